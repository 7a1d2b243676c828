"""Stage 5: top-1/top-5 error of one experiment, centre crop and ten patches, single nets and ensemble."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.cli import CONFIG_DIR, launch, log, user_errors
from alexnet_repro.config import EvaluateConfig, validate
from alexnet_repro.evaluation.run import evaluate, log_to_wandb


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def main(raw: DictConfig) -> None:
    with user_errors():
        cfg = validate(raw, EvaluateConfig)
        features = cfg.features_train_max if cfg.experiment_name in cfg.features_for else 0
        result = evaluate(cfg.experiment_name, cfg.runs_dir, cfg.out_dir, cfg.data.store_dir, cfg.modes,
                          cfg.batch_size, cfg.workers, features, cfg.device, dataset=cfg.data.name,
                          profile=cfg.profile_name)
        log_to_wandb(result, cfg.logger, cfg.out_dir)
        for mode in cfg.modes:
            log.info("%s %s: top-1 error %.3f, top-5 error %.3f", cfg.experiment_name, mode,
                     result.metrics[mode]["err_top1"], result.metrics[mode]["err_top5"])


def cli() -> None:
    launch(main)
