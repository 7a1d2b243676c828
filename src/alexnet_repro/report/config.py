"""The schema of src/report.py's config (conf/report.yaml)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from alexnet_repro.basics import choice, in_range
from alexnet_repro.data.config import DataConfig
from alexnet_repro.results import MODES
from alexnet_repro.schema import PathsConfig, register


@dataclass
class ReportConfig:
    """src/report.py."""

    paths: PathsConfig = MISSING
    data: DataConfig = MISSING
    profile_name: str = MISSING
    results_dir: str = MISSING
    out_dir: str = MISSING
    baseline: str = MISSING
    mode: str = MISSING
    neighbours: int = MISSING  # Figure 4: nearest training images shown per query
    figure4_queries: int = MISSING  # Figure 4: validation images shown

    def __post_init__(self) -> None:
        choice("mode", self.mode, MODES)
        in_range("neighbours", self.neighbours, 1)
        in_range("figure4_queries", self.figure4_queries, 1)


register({"data": DataConfig}, ("report", ReportConfig))
