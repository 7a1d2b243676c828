"""Stage 2: shorter side to 256, central 256x256 crop, RGB, into a few shard files (section 2)."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.cli import CONFIG_DIR, launch, user_errors
from alexnet_repro.data.config import PrepareConfig
from alexnet_repro.data.resize import build_store
from alexnet_repro.schema import validate


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="prepare")
def main(cfg: DictConfig) -> None:
    with user_errors():
        data = validate(cfg, PrepareConfig).data
        r = data.resize
        build_store(data.raw_dir, data.store_dir, r.encoding, r.quality, r.shard_size, r.workers, r.skip_bad)


def cli() -> None:
    launch(main)
