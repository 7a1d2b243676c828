"""Stage 2: shorter side to 256, central 256x256 crop, RGB, into a few shard files (section 2); a CIFAR-10 source's
32x32 images are stored as they are."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.cli import CONFIG_DIR, launch, log, user_errors
from alexnet_repro.data.config import PrepareConfig
from alexnet_repro.data.resize import build_store
from alexnet_repro.schema import validate


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="prepare")
def main(cfg: DictConfig) -> None:
    with user_errors():
        data = validate(cfg, PrepareConfig).data
        index = build_store(data.raw_dir, data.store_dir, data.resize)
        counts = ", ".join(f"{split} {entry['count']:,}" for split, entry in index["splits"].items())
        log.info("%s: %s images of %dx%d (%s) -> %s", data.name, counts, index["image_size"], index["image_size"],
                 index["encoding"], data.store_dir)


def cli() -> None:
    launch(main)
