"""Stage 1: acquire the configured dataset (generated, ILSVRC tarballs, Imagenette, ImageFolder) into raw_dir."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.cli import CONFIG_DIR, launch, log, user_errors
from alexnet_repro.data.config import PrepareConfig
from alexnet_repro.data.download import acquire
from alexnet_repro.schema import validate


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="prepare")
def main(cfg: DictConfig) -> None:
    with user_errors():
        data = validate(cfg, PrepareConfig).data
        raw = acquire(data.source, data.raw_dir, workers=data.resize.workers)
        log.info("%s -> %s", data.name, raw)


def cli() -> None:
    launch(main)
