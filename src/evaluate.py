"""Stage 5: top-1/top-5 error of one experiment, centre crop and ten patches, single nets and ensemble."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.config import LoggerConfig
from alexnet_repro.evaluation.run import evaluate, log_to_wandb
from alexnet_repro.stage import clean_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with clean_errors():
        metrics = evaluate(cfg.experiment_name, cfg.runs_dir, cfg.out_dir, cfg.data.store_dir, list(cfg.modes),
                           cfg.batch_size, cfg.workers,
                           cfg.features_train_max if cfg.experiment_name in cfg.features_for else 0, cfg.device)
        log_to_wandb(metrics, LoggerConfig(**cfg.logger), cfg.data.name, cfg.profile_name, cfg.out_dir)
        for mode in cfg.modes:
            print(f"{cfg.experiment_name} {mode}: top-1 error {metrics[mode]['err_top1']:.3f}, "
                  f"top-5 error {metrics[mode]['err_top5']:.3f}")


if __name__ == "__main__":
    main()
