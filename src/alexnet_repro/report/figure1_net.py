"""Figure 1 with the paper's own net (figure1/: cuda-convnet's four-layer layers-80sec on CIFAR-shaped data): steps
to the level per seed, the ratio tanh / ReLU with its interval, and the ratio over levels, bounds kept.

The interval is on the ratio of geometric means: a Welch t-interval on the difference of mean log steps,
exponentiated (steps to a level are positive and right-skewed; on the log scale seeds scatter symmetrically). It
needs every seed of both nets to reach the level; a net that stopped short makes the ratio a bound, shown as one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from alexnet_repro import results as R
from alexnet_repro.figure1.result import Figure1Result
from alexnet_repro.speed import Ratio, Reach, ratio_of_means

LEVEL = 0.95
LEVELS = tuple(float(x) for x in np.round(np.arange(0.8, 0.2499, -0.05), 2))  # down to the paper's 25%


@dataclass(frozen=True)
class NetRow:
    activation: str
    lr_scale: float
    at_edge: bool
    pilot_mean_steps: dict
    reaches: tuple[Reach, ...]
    seeds: tuple[int, ...]
    histories: tuple[dict, ...]  # {"step": [...], R.TRAIN_ERR_TOP1: [...]} per reported seed


@dataclass(frozen=True)
class Figure1Net:
    layers: str
    dataset: str
    level: float
    batch_size: int
    train_images: int
    relu: NetRow
    tanh: NetRow
    ratio: Ratio  # tanh / ReLU mean steps at the level
    geometric: tuple[float, float, float] | None  # ratio of geometric means and its 95% interval; None: bounds
    curve: tuple[tuple[float, Ratio], ...]  # the ratio at each level from 80% down


def _row(r: Figure1Result) -> NetRow:
    return NetRow(activation=r.activation, lr_scale=r.pick.lr_scale, at_edge=r.pick.at_edge,
                  pilot_mean_steps=r.pick.pilot_mean_steps, reaches=tuple(r.reaches()),
                  seeds=tuple(c.seed for c in r.runs),
                  histories=tuple({"step": list(c.steps), R.TRAIN_ERR_TOP1: list(c.errors)} for c in r.runs))


def geometric_ratio(slow: list[Reach], fast: list[Reach], level: float = LEVEL
                    ) -> tuple[float, float, float] | None:
    """exp(mean log slow - mean log fast) with a Welch t-interval; None unless every seed reached the level
    exactly and each net has two seeds or more."""
    if any(r.relation != "=" for r in slow + fast) or min(len(slow), len(fast)) < 2:
        return None
    a, b = np.log([r.steps for r in slow]), np.log([r.steps for r in fast])
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    d = float(a.mean() - b.mean())
    if va + vb == 0:
        return float(np.exp(d)), float(np.exp(d)), float(np.exp(d))
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(1 - (1 - level) / 2, df) * np.sqrt(va + vb))
    return float(np.exp(d)), float(np.exp(d - half)), float(np.exp(d + half))


def figure1_net(results: dict[str, Figure1Result]) -> Figure1Net | None:
    if not {"relu", "tanh"} <= results.keys():
        return None
    relu, tanh = results["relu"], results["tanh"]
    curve = tuple((lvl, ratio_of_means([c.reach(lvl) for c in tanh.runs], [c.reach(lvl) for c in relu.runs]))
                  for lvl in LEVELS)
    return Figure1Net(layers=relu.layers, dataset=relu.dataset, level=relu.level, batch_size=relu.batch_size,
                      train_images=relu.train_images, relu=_row(relu), tanh=_row(tanh),
                      ratio=ratio_of_means(tanh.reaches(), relu.reaches()),
                      geometric=geometric_ratio(tanh.reaches(), relu.reaches()), curve=curve)
