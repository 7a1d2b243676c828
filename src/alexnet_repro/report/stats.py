"""The ablation effect, its interval and the verdict rule, fixed before the runs and calibrated in
tests/test_stats.py on exactly these functions.

An effect is the change in error rate, ablation (b) minus baseline (a), on the same validation images. The unit of
replication is the seed: each seed's error rate carries that seed's luck (initialisation, data order, crops,
lighting draws) and the image-level binomial noise, so a t-interval on per-seed error rates counts both. Seed k of
every experiment shares data order, crops and lighting draws (paired by design), so when both arms have the same
seed list the interval is a paired t on the per-seed differences; otherwise (a run missing on one side) Welch's t on
the two sets of rates. Nothing is resampled: the report needs only each seed's error rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

LEVEL = 0.95
POWER = 0.8  # the detectable effect is the one this test finds 80% of the time

ESTIMATOR_RULE = (
    f"Each effect is the ablation's mean error over seeds minus the baseline's, with a {LEVEL:.0%} t-interval over "
    "seeds (the seed is the unit: its error rate carries both its training luck and the image noise): a paired t on "
    "the per-seed differences when both arms have the same seed list (seed k of every experiment shares data order, "
    "crops and lighting draws), Welch's t otherwise; an arm with one seed gives no interval. An interval is clipped "
    "to the differences that are possible (from -baseline to 100% - baseline), and marked when it is. A verdict needs "
    "the interval to exclude zero; the column 'Holm' says whether that decision survives Holm's correction over the "
    "family of ablation comparisons in the table, and a decision that does not survive it reads 'inconclusive'. "
    f"'Detectable' is the true effect the test would find with {POWER:.0%} power (noncentral t, two-sided "
    f"{1 - LEVEL:.0%}) at this seed count and the seed spread pooled over the run's experiments (one row's own "
    "spread, from two or three seeds, is itself too noisy to plan with).")


@dataclass(frozen=True)
class Effect:
    """Difference in mean error rate, b - a, as a fraction; low/high None when an arm has one seed."""

    point: float
    low: float | None
    high: float | None
    seeds_a: int
    seeds_b: int
    method: str  # "paired t", "Welch t" or "none"
    p_value: float | None = None
    se: float | None = None  # standard error of `point`
    df: float | None = None
    clipped: bool = False  # the t-interval reached past a possible difference and was cut there


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = b - a
    return float(d.std(ddof=1) / np.sqrt(len(d))), float(len(d) - 1)


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    denominator = va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)
    df = (va + vb) ** 2 / denominator if denominator > 0 else float(len(a) + len(b) - 2)
    return float(np.sqrt(va + vb)), float(df)


def effect(rates_a: dict[str, float], rates_b: dict[str, float], level: float = LEVEL) -> Effect:
    """b - a from per-seed error rates ({seed name: rate}); the rule in ESTIMATOR_RULE."""
    a, b = np.array(list(rates_a.values()), float), np.array(list(rates_b.values()), float)
    point = float(b.mean() - a.mean())
    paired = list(rates_a) == list(rates_b)
    if (paired and len(a) < 2) or (not paired and min(len(a), len(b)) < 2):
        return Effect(point=point, low=None, high=None, seeds_a=len(a), seeds_b=len(b), method="none")
    se, df = _paired(a, b) if paired else _welch(a, b)
    if se < 1e-12:  # every seed moved by the same amount (to float rounding): no spread to be unsure about
        p, low, high = (1.0 if point == 0 else 0.0), point, point
    else:
        p = float(2 * stats.t.sf(abs(point) / se, df))
        half = float(stats.t.ppf(1 - (1 - level) / 2, df)) * se
        low, high = point - half, point + half
    floor, ceiling = -float(a.mean()), 1.0 - float(a.mean())  # b's error cannot leave [0, 1]
    clipped = low < floor or high > ceiling
    return Effect(point=point, low=max(low, floor), high=min(high, ceiling), seeds_a=len(a), seeds_b=len(b),
                  method="paired t" if paired else "Welch t", p_value=p, se=se, df=df, clipped=clipped)


def detectable(e: Effect, power: float = POWER, level: float = LEVEL) -> float | None:
    """The smallest true |b - a| this comparison would call (interval excluding zero) with probability `power`,
    at its measured standard error and degrees of freedom; None without an interval."""
    if e.se is None or e.df is None:
        return None
    if e.se < 1e-12:
        return 0.0
    crit = stats.t.ppf(1 - (1 - level) / 2, e.df)

    def short(delta: float) -> float:
        nc = delta / e.se
        # the far tail is negligible, and scipy's noncentral t returns NaN for it at large nc
        return stats.nct.sf(crit, e.df, nc) + np.nan_to_num(stats.nct.cdf(-crit, e.df, nc)) - power

    return float(optimize.brentq(short, 0.0, 1000 * e.se) if short(0.0) < 0 else 0.0)


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values over the family of those given (None: not in the family)."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    running, m = 0.0, len(present)
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def decided(e: Effect) -> bool:
    """The interval excludes zero (the raw decision, before any family correction)."""
    return e.low is not None and (e.low > 0 or e.high < 0)


@dataclass(frozen=True)
class Verdict:
    text: str  # what the table prints
    direction: str  # "same as the paper", "opposite to the paper", "undetermined" or "no paper claim"
    paper_inside: bool | None  # the paper's number lies in our interval; None: no number or not comparable
    holm_holds: bool | None  # the decision survives Holm; None: no decision to hold


def verdict(e: Effect, paper_sign: int | None, paper_delta: float | None = None, comparable: bool = False,
            holm_p: float | None = None, confound: str = "", level: float = LEVEL) -> Verdict:
    """Our effect against the paper's: (a) does its direction agree, (b) is the paper's number (a fraction) inside our
    interval. Only on the paper's data (`comparable`) can it agree; elsewhere the direction is all that is said."""
    if e.low is None:
        fewest = min(e.seeds_a, e.seeds_b)
        return Verdict(f"inconclusive ({fewest} seed{'' if fewest == 1 else 's'})", "undetermined", None, None)
    holds = None if not decided(e) or holm_p is None else holm_p < 1 - level
    if paper_sign is None:
        return Verdict("no number in the paper", "no paper claim", None, holds)
    inside = None if paper_delta is None or not comparable else bool(e.low <= paper_delta <= e.high)
    where = "" if inside is None else f"; the paper's {paper_delta * 100:+.1f} is {'inside' if inside else 'outside'}"
    if not decided(e):
        return Verdict(f"inconclusive{where}", "undetermined", inside, holds)
    if holds is False:  # the raw interval excludes zero, the family's correction does not let that stand
        return Verdict(f"inconclusive after Holm (p {holm_p:.3f}){where}", "undetermined", inside, holds)
    same = (e.low > 0) == (paper_sign > 0)
    direction = "same as the paper" if same else "opposite to the paper"
    if confound:
        side = "on the paper's side of zero" if same else "on the other side of zero from the paper"
        return Verdict(f"none, confounded ({confound}); the interval lies {side}", direction, None, holds)
    if not comparable:
        return Verdict(f"direction only: not comparable ({direction})", direction, None, holds)
    return Verdict(f"{'agrees' if same else 'contradicts'}{where}", direction, inside, holds)


@dataclass(frozen=True)
class PooledSpread:
    """The seed-to-seed SD of an error rate, pooled over experiments: sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1))."""

    sd: float
    df: int
    experiments: int


def pooled_spread(per_experiment: list[list[float]]) -> PooledSpread | None:
    """From each experiment's per-seed error rates; None when no experiment has two seeds."""
    used = [np.asarray(x, float) for x in per_experiment if len(x) >= 2]
    df = sum(len(x) - 1 for x in used)
    if not df:
        return None
    return PooledSpread(float(np.sqrt(sum((len(x) - 1) * x.var(ddof=1) for x in used) / df)), df, len(used))


def pooled_detectable(spread: PooledSpread, seeds: int, power: float = POWER, level: float = LEVEL) -> float:
    """The smallest true difference between two arms of `seeds` seeds each that a two-sided t-test at `level` finds
    with probability `power`, when each arm's seeds scatter with the pooled SD (difference of two means)."""
    se = spread.sd * np.sqrt(2.0 / seeds)
    pooled = Effect(point=0.0, low=None, high=None, seeds_a=seeds, seeds_b=seeds, method="pooled", se=float(se),
                    df=float(spread.df))
    return detectable(pooled, power, level)
