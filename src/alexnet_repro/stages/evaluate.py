"""Stage 5: top-1/top-5 error of one experiment, centre crop and ten patches, single nets and ensemble."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.cli import CONFIG_DIR, launch, log, user_errors
from alexnet_repro.evaluation.config import EvaluateConfig
from alexnet_repro.evaluation.run import evaluate, log_to_wandb
from alexnet_repro.schema import validate


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def main(raw: DictConfig) -> None:
    with user_errors():
        cfg = validate(raw, EvaluateConfig)
        result = evaluate(cfg)
        log_to_wandb(result, cfg.logger, cfg.out_dir)
        for mode in cfg.modes:
            log.info("%s %s: top-1 error %.3f, top-5 error %.3f", cfg.experiment_name, mode,
                     result.metrics[mode]["err_top1"], result.metrics[mode]["err_top5"])


def cli() -> None:
    launch(main)
