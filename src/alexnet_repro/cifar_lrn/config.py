"""The schema of src/cifar_lrn.py's config (conf/cifar_lrn.yaml)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from alexnet_repro.basics import ConfigError, choice, in_range
from alexnet_repro.data.config import DataConfig
from alexnet_repro.models.convnet4_spec import DEFAULT_INPUT
from alexnet_repro.schema import PathsConfig, register

# The nets of section 3.3's pair and its control: the ones that read 24x24 crops (models/convnet4_spec.py).
NETS = tuple(name for name, side in DEFAULT_INPUT.items() if side == 24)
VIEWS = {"center": 1, "ten": 10}  # ten: the four corners and the centre, and their mirror images (the wiki's test)


@dataclass
class CifarLrnConfig:
    """src/cifar_lrn.py: one net, trained and tested once per seed."""

    paths: PathsConfig = MISSING
    data: DataConfig = MISSING
    net: str = MISSING  # a layer file of NETS
    seeds: list = MISSING
    epochs: int = MISSING
    cuts: list = MISSING  # epochs after which every rate is divided by 10 (the files' schedules)
    crop: int = MISSING  # the training crops' side, and the test views'
    views: str = MISSING  # center | ten
    batch_size: int = MISSING
    run_dir: str = MISSING  # each finished seed's result, so a killed stage resumes seed by seed
    out: str = MISSING  # the result the report reads (cifar_lrn/result.py)
    device: str = MISSING
    cpu_threads: int = MISSING

    def __post_init__(self) -> None:
        choice("net", self.net, NETS)
        choice("views", self.views, VIEWS)
        choice("device", self.device, ("auto", "cpu", "cuda"))
        for key in ("epochs", "batch_size", "cpu_threads", "crop"):
            in_range(key, getattr(self, key), 1)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or \
                any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ConfigError(f"seeds={self.seeds!r}: one or more distinct whole numbers >= 0")
        if any(not isinstance(c, int) or not 0 < c < self.epochs for c in self.cuts) or \
                list(self.cuts) != sorted(set(self.cuts)):
            raise ConfigError(f"cuts={self.cuts!r}: increasing epochs after which the rates fall by 10, each "
                              f"between 1 and epochs - 1 = {self.epochs - 1}")


register({"data": DataConfig}, ("cifar_lrn", CifarLrnConfig))
