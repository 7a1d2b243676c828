"""Section 3.3's CIFAR-10 claim (13% test error without normalisation, 11% with) at its own scale:
`python src/cifar_lrn.py net=layers-conv-local-11pct`. Trains and tests one net per seed and writes
results/cifar_lrn-<net>.json; a finished result of the same settings, data and code is adopted before torch is
imported ("up to date")."""

import hydra
from omegaconf import DictConfig

from alexnet_repro.cifar_lrn.config import CifarLrnConfig
from alexnet_repro.cifar_lrn.experiment import inputs
from alexnet_repro.cifar_lrn.result import adoptable
from alexnet_repro.cli import CONFIG_DIR, launch, log, user_errors
from alexnet_repro.schema import validate


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="cifar_lrn")
def main(raw: DictConfig) -> None:
    with user_errors():
        cfg = validate(raw, CifarLrnConfig)
        made = inputs(cfg)
        if adoptable(cfg.out, made):
            log.info("%s: up to date (this net's settings, data and code): nothing to train", cfg.out)
            return
        from alexnet_repro.cifar_lrn.experiment import run  # torch and Lightning: only when there is work

        result = run(cfg, made)
        errors = ", ".join(f"{e:.1%}" for e in result.test_errors)
        log.info("cifar_lrn %s: test error per seed %s -> %s", cfg.net, errors, cfg.out)


def cli() -> None:
    launch(main)
