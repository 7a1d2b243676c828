"""Train one AlexNet configuration: `python src/train.py +experiment=no_lrn` (see conf/)."""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from alexnet_repro.config import ConfigError
from alexnet_repro.training.run import train


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        summary = train(cfg, HydraConfig.get().runtime.output_dir)
    except ConfigError as err:
        sys.exit(f"config error: {err}")
    return summary["best_val_err_top1"]  # for Hydra sweepers that minimise


if __name__ == "__main__":
    main()
