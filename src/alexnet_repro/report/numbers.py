"""Every number the report prints, as one frozen tree (compute.py fills it, render.py writes it out). Rates and
effects are fractions (0.25 = 25%); a value that could not be produced is None beside a `reason` that says why."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alexnet_repro.models.spec import lrn_scale
from alexnet_repro.report.stats import Effect, Verdict


@dataclass(frozen=True)
class Score:
    """Mean over seeds and the sample std (None with one seed), or one ensemble's rate (std None, seeds n)."""

    mean: float
    std: float | None
    seeds: int


@dataclass(frozen=True)
class TableRow:
    model: str
    top1: Score | None
    top5: Score | None
    test_top5: Score | None  # Table 2's test-set column
    source: str  # "paper", "ours, ...", or why ours is missing


@dataclass(frozen=True)
class Summary:
    experiments: int
    seed_counts: tuple[int, ...]  # the distinct numbers of seeds per experiment
    dataset: str
    profile: str
    comparable: bool  # the paper's data (ILSVRC)
    data_words: str
    hardware: str
    runs: int
    wall_s: float
    setup_words: str
    skipped: tuple[str, ...]


@dataclass(frozen=True)
class SeedSpread:
    rows: tuple[tuple[str, tuple[float, ...]], ...]  # experiment, each seed's top-1 error
    baseline_std: float | None


CHECKPOINT_MODE = "center"  # conf/evaluate.yaml's last_modes: the last checkpoint is scored on the centre patch


@dataclass(frozen=True)
class Checkpoints:
    """The checkpoint chosen on minival (best) beside the last one, per experiment (top-1, CHECKPOINT_MODE)."""

    experiment: str
    best: Score
    last: Score | None  # None: this result predates per_seed_last


@dataclass(frozen=True)
class RunHealth:
    experiment: str
    seed: str
    status: str  # "ok", "diverged", "collapsed" or "not recorded"
    reason: str

    @property
    def flagged(self) -> bool:
        return self.status in ("diverged", "collapsed")


@dataclass(frozen=True)
class Note:
    number: int
    experiment: str
    text: str
    confound: bool


@dataclass(frozen=True)
class AblationRow:
    name: str
    section: str
    paper_words: str
    paper_top1: float | None  # the paper's change, a fraction; None: no number (or a control)
    paper_top5: float | None
    top1: Effect
    top5: Effect
    detectable_top1: float | None  # 80%-power detectable effect at this row's seeds (stats.detectable)
    holm_p: float | None
    verdict: Verdict
    without_flagged: Effect | None  # top-1 with flagged runs left out; None: no run of either arm flagged
    notes: tuple[int, ...]
    confounded: bool


@dataclass(frozen=True)
class Ablations:
    rows: tuple[AblationRow, ...]
    notes: tuple[Note, ...]
    family: int  # comparisons Holm corrects over
    epochs: int


@dataclass(frozen=True)
class LrnComparison:
    label: str
    isolates: str
    paper: str
    top1: Effect
    top5: Effect
    verdict: Verdict


@dataclass(frozen=True)
class LrnDivisor:
    layer: str  # norm1, norm2
    low: float  # the smallest and largest (k + alpha' S)^beta over epochs and seeds
    high: float


@dataclass(frozen=True)
class Lrn:
    k: float
    alpha: float
    alpha_over_n: bool
    size: int
    beta: float
    init: str
    comparisons: tuple[LrnComparison, ...]
    missing: str | None  # the experiment that was not evaluated, if any
    divisors: tuple[LrnDivisor, ...] | None  # None: not logged by these runs

    @property
    def scale(self) -> float:
        return lrn_scale(self.alpha, self.size, self.alpha_over_n)


@dataclass(frozen=True)
class Figure3:
    kernels: np.ndarray | None  # the first seed's, for the picture
    towers: int
    trained: tuple[float, ...]  # low-frequency share per seed
    seeds_source: str  # "every seed" or "the first seed only (no conv1_seeds in this result)"
    init: tuple[float, ...]  # each trained seed's own initial conv1
    init_seeds: tuple[int, ...]  # the runs' seeds (their initial weights rebuilt from seeds.init_seed)
    shuffled: tuple[float, ...] | None  # the shuffled_labels control; None: not run
    white_noise: float
    colour: tuple[tuple[float, ...], ...] = ()  # per seed, each tower's mean colour share (kernels.tower_colour)
    colour_init: tuple[tuple[float, ...], ...] = ()  # the same of each seed's initial conv1


@dataclass(frozen=True)
class Figure4:
    reason: str | None  # why there is no Figure 4 at all
    seed: str = ""  # the net whose fc7 space is searched: the baseline's first seed
    neighbours: int = 0
    val: int = 0
    train: int = 0
    dim: int = 0
    classes: int = 0
    fc7_rate: float | None = None
    fc7_group_rate: float | None = None  # same class or palette twin
    pixel_rate: float | None = None
    pixel_group_rate: float | None = None
    pixel_reason: str | None = None
    chance: float | None = None
    group_chance: float | None = None  # None where no classes share a palette (ILSVRC)
    queries: tuple[tuple[np.ndarray, str], ...] | None = None  # thumbnails and captions
    shown: tuple[tuple[np.ndarray, ...], ...] | None = None
    thumbs_reason: str | None = None


@dataclass(frozen=True)
class RunFact:
    experiment: str
    seed: str
    url: str | None
    epochs: int
    steps: float | None
    wall_s: float | None
    images_per_s: float | None
    settings: str
    health: str


@dataclass(frozen=True)
class ReportNumbers:
    mode: str
    baseline: str
    summary: Summary
    table1: tuple[TableRow, ...]
    table2: tuple[TableRow, ...]
    spread: SeedSpread
    checkpoints: tuple[Checkpoints, ...]
    health_rule: str
    health: tuple[RunHealth, ...]
    ablations: Ablations
    lrn: Lrn | None
    figure3: Figure3 | None
    figure4: Figure4
    curves: dict  # experiment -> each seed's history, for the training-curve figure
    facts: tuple[RunFact, ...]
    provenance: dict
    commits: tuple[str, ...]
    claims: Claims
    top5_reported: bool  # top-5 of 10 classes or fewer is near zero for every net: not reported
    figure1_net: object | None = None  # report/figure1_net.Figure1Net: Figure 1 with the paper's four-layer net
    cifar_lrn: object | None = None  # report/cifar_lrn.CifarLrn: section 3.3's CIFAR-10 claim


@dataclass(frozen=True)
class ClaimRow:
    """One of the paper's numbered claims (paper.CLAIMS) as this run can speak to it."""

    number: int
    claim: str
    section: str
    paper: str
    ours: str
    testable: bool
    reason: str  # why not testable (every failed condition of claims.RULE), or what made it testable
    verdict: str


@dataclass(frozen=True)
class Claims:
    rows: tuple[ClaimRow, ...]
    summary: str  # the report's opening paragraph: what this run can and cannot show
    detectable: float | None  # the pooled 80%-power detectable effect at this run's seed count (a fraction)
    pooled_sd: float | None
    seeds: int
