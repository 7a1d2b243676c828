"""The schema of src/evaluate.py's config (conf/evaluate.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING

from alexnet_repro.basics import choice, in_range
from alexnet_repro.data.config import DataConfig
from alexnet_repro.results import MODES
from alexnet_repro.schema import LoggerConfig, PathsConfig, register


@dataclass
class EvaluateConfig:
    """src/evaluate.py."""

    paths: PathsConfig = MISSING
    data: DataConfig = MISSING
    logger: LoggerConfig = MISSING
    experiment_name: str = MISSING
    profile_name: str = MISSING
    runs_dir: str = MISSING
    seeds: list = MISSING  # the seeds the pipeline asked for (params.yaml): other seed folders are ignored
    out_dir: str = MISSING
    modes: list = MISSING
    last_modes: list = MISSING  # the modes the last checkpoint is scored in (a subset of modes)
    batch_size: int = MISSING
    workers: int = MISSING
    features_train_max: int = MISSING
    features_for: list = MISSING
    device: str = MISSING
    cpu_threads: Optional[int] = MISSING  # None: torch's default

    def __post_init__(self) -> None:
        for mode in self.modes:
            choice("modes", mode, MODES)
        for mode in self.last_modes:
            choice("last_modes", mode, self.modes)
        in_range("batch_size", self.batch_size, 1)
        in_range("workers", self.workers, 0)
        in_range("features_train_max", self.features_train_max, 0)
        choice("device", self.device, ("auto", "cpu", "cuda"))
        if self.cpu_threads is not None:
            in_range("cpu_threads", self.cpu_threads, 1)
        for seed in self.seeds:
            in_range("seeds", seed, 0)


register({"data": DataConfig, "logger": LoggerConfig}, ("evaluate", EvaluateConfig))
