"""params.yaml checked before `dvc repro` reads it (`make run` runs this first): DVC's own message for a bad value
is a parser's ("'Value' object is not iterable" for `seeds: 0,1`); this one names the key, exit code 2."""

from __future__ import annotations

import sys

from omegaconf import OmegaConf

from alexnet_repro.basics import PROJECT_ROOT, ConfigError
from alexnet_repro.schema import PIPELINE_PARAMS

CONF = PROJECT_ROOT / "conf"


def _names(key: str, value, group: str) -> None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}={value!r} in {PIPELINE_PARAMS.name} must be a list of names, e.g. [baseline, tanh]")
    for name in value:
        _exists(f"{key}: {name}", name, group)


def _exists(key: str, name, group: str) -> None:
    if not isinstance(name, str) or not (CONF / group / f"{name}.yaml").is_file():
        choices = sorted(p.stem for p in (CONF / group).glob("*.yaml"))
        raise ConfigError(f"{key}={name!r} in {PIPELINE_PARAMS.name} is not one of conf/{group}/: {choices}")


def check(params: dict) -> None:
    for key, group in (("dataset", "data"), ("profile", "profile"), ("trainer", "trainer")):
        _exists(key, params.get(key), group)
    seeds = params.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ConfigError(f"seeds={seeds!r} in {PIPELINE_PARAMS.name} must be a list of whole numbers >= 0, "
                          "e.g. [0, 1, 2]")
    if len(set(seeds)) != len(seeds):  # a seed listed twice would count one net twice in every mean and interval
        raise ConfigError(f"seeds={seeds!r} in {PIPELINE_PARAMS.name} lists a seed twice: each must appear once")
    _names("experiments", params.get("experiments"), "experiment")
    cifar = params.get("cifar", {})
    _exists("cifar.dataset", cifar.get("dataset"), "data")
    activations = cifar.get("figure1")
    if activations != ["relu", "tanh"]:  # the figure is the pair: either alone compares nothing
        raise ConfigError(f"cifar.figure1={activations!r} in {PIPELINE_PARAMS.name} must be [relu, tanh]")
    from alexnet_repro.cifar_lrn.config import NETS

    nets = cifar.get("lrn")
    if not isinstance(nets, list) or not nets or any(n not in NETS for n in nets) or len(set(nets)) != len(nets):
        raise ConfigError(f"cifar.lrn={nets!r} in {PIPELINE_PARAMS.name} must list distinct nets of {list(NETS)}")


def main() -> int:
    try:
        check(OmegaConf.to_container(OmegaConf.load(PIPELINE_PARAMS)))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
