"""Stage 5: top-1/top-5 error of one experiment, centre crop and ten patches, single nets and ensemble.

A finished evaluation of the same runs, data, config and code in out_dir is adopted, not done again
(evaluation/inputs.py): the pipeline evaluates ahead of `dvc repro`, which then runs this command once more. That
check comes before torch is imported, so an adopted evaluation costs about a second."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.cli import CONFIG_DIR, launch, log, user_errors
from alexnet_repro.evaluation.config import EvaluateConfig
from alexnet_repro.evaluation.inputs import evaluation_inputs, why_not_up_to_date
from alexnet_repro.schema import validate


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def main(raw: DictConfig) -> None:
    with user_errors():
        cfg = validate(raw, EvaluateConfig)
        inputs = evaluation_inputs(cfg)
        why = why_not_up_to_date(cfg.out_dir, inputs)
        if why is None:  # W&B has it already: it was logged when it ran
            log.info("%s: up to date (an evaluation of these runs, data and code): nothing to evaluate", cfg.out_dir)
            return
        log.info("%s: evaluating (%s)", cfg.out_dir, why)
        from alexnet_repro.evaluation.run import evaluate, log_to_wandb  # torch: seconds, only when there is work

        result = evaluate(cfg, inputs=inputs)
        log_to_wandb(result, cfg.logger, cfg.out_dir)
        for mode in cfg.modes:
            log.info("%s %s: top-1 error %.3f, top-5 error %.3f", cfg.experiment_name, mode,
                     result.metrics[mode]["err_top1"], result.metrics[mode]["err_top5"])


def cli() -> None:
    launch(main)
