"""Figure 1 (section 3.1) at its own scale: `python src/figure1.py activation=tanh`. Trains the four-layer net's
pilot grid and reported seeds for one activation and writes results/figure1-<activation>.json; a finished result
of the same settings, data and code is adopted before torch is imported ("up to date")."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.cli import CONFIG_DIR, launch, log, user_errors
from alexnet_repro.figure1.config import Figure1Config
from alexnet_repro.figure1.experiment import inputs
from alexnet_repro.figure1.result import adoptable
from alexnet_repro.schema import validate


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="figure1")
def main(raw: DictConfig) -> None:
    with user_errors():
        cfg = validate(raw, Figure1Config)
        made = inputs(cfg)
        if adoptable(cfg.out, made):
            log.info("%s: up to date (Figure 1 of these settings, data and code): nothing to train", cfg.out)
            return
        from alexnet_repro.figure1.experiment import run  # torch and Lightning: only when there is work

        result = run(cfg, made)
        reaches = ", ".join(str(r) for r in result.reaches())
        log.info("figure1 %s: steps to %.0f%% per seed: %s -> %s", cfg.activation, cfg.level * 100, reaches, cfg.out)


def cli() -> None:
    launch(main)
