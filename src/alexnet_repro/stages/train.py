"""Train one AlexNet configuration: `python src/train.py +experiment=no_lrn` (see conf/)."""

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from alexnet_repro.cli import CONFIG_DIR, launch, user_errors
from alexnet_repro.training.run import train


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    with user_errors():
        summary = train(cfg, HydraConfig.get().runtime.output_dir)
    return summary["best_selection_err_top1"]  # for Hydra sweepers that minimise: minival, never validation


def cli() -> None:
    launch(main)
