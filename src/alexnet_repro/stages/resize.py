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
        build_store(data.raw_dir, data.store_dir, data.resize)


def cli() -> None:
    launch(main)
