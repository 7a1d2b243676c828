"""The schema of src/figure1.py's config (conf/figure1.yaml)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from alexnet_repro.basics import ConfigError, choice, in_range
from alexnet_repro.data.config import DataConfig
from alexnet_repro.models.convnet4_spec import ACTIVATIONS, LAYER_FILES
from alexnet_repro.schema import PathsConfig, register


@dataclass
class Figure1Config:
    """src/figure1.py: one activation's pilot grid, its pick and its reported seeds."""

    paths: PathsConfig = MISSING
    data: DataConfig = MISSING
    activation: str = MISSING
    layers: str = MISSING
    level: float = MISSING  # the training-error level the figure times (the paper: 25%)
    lr_scales: dict = MISSING  # the pilot grid per activation: multiples of the layer file's epsW / epsB
    pilot_seeds: list = MISSING
    seeds: list = MISSING  # reported; disjoint from pilot_seeds
    max_epochs: int = MISSING
    log_every: int = MISSING  # steps between two points of the training-error curve
    batch_size: int = MISSING
    run_dir: str = MISSING  # each finished net's curve, so a killed stage resumes net by net
    out: str = MISSING  # the result the report reads (figure1/result.py)
    device: str = MISSING
    cpu_threads: int = MISSING

    @property
    def grid(self) -> list[float]:
        return [float(x) for x in self.lr_scales[self.activation]]

    def __post_init__(self) -> None:
        choice("activation", self.activation, ACTIVATIONS)
        choice("layers", self.layers, LAYER_FILES)
        in_range("level", self.level, 0.0, 1.0, low_open=True)
        for key in ("max_epochs", "log_every", "batch_size", "cpu_threads"):
            in_range(key, getattr(self, key), 1)
        grid = self.lr_scales.get(self.activation)
        if not isinstance(grid, list) or len(grid) < 3 or any(not isinstance(x, (int, float)) or x <= 0
                                                              for x in grid):
            raise ConfigError(f"lr_scales.{self.activation}={grid!r}: three or more positive rates, so that the "
                              "grid can bracket the fastest one")
        if not self.seeds or not self.pilot_seeds:
            raise ConfigError("seeds and pilot_seeds must both list at least one seed")
        for key in ("seeds", "pilot_seeds"):
            values = getattr(self, key)
            if len(set(values)) != len(values) or any(not isinstance(s, int) or s < 0 for s in values):
                raise ConfigError(f"{key}={values!r}: distinct whole numbers >= 0")
        if set(self.seeds) & set(self.pilot_seeds):
            raise ConfigError(f"seeds {sorted(set(self.seeds) & set(self.pilot_seeds))} are also pilot seeds: the "
                              "rate would be chosen on the runs it then reports")
        choice("device", self.device, ("auto", "cpu", "cuda"))


register({"data": DataConfig}, ("figure1", Figure1Config))
