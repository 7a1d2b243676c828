"""Figure 1 as numbers: training steps until a net's training error first reaches a level, and the ratio of
two groups of nets (the paper: tanh needed six times the iterations of ReLU to reach 25% on CIFAR-10).

Training error is logged once per epoch against the global step, so the step at which the level is crossed is
interpolated linearly between the two epochs around it. A net that never reaches the level gives only a lower
bound (more than its last step); one already below it at the first logged epoch, an upper bound (that step)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Reach:
    """Steps to the level: exactly `steps` ("="), more than `steps` (">"), at most `steps` ("<="), or a mean
    of seeds whose bounds point both ways ("~", from mean_reach)."""

    steps: float
    relation: str = "="

    def __str__(self) -> str:
        return f"{'' if self.relation == '=' else self.relation + ' '}{self.steps:.0f}"


def steps_to_threshold(steps: list[float], errors: list[float], threshold: float) -> Reach:
    """First step at which the per-epoch training error reaches `threshold` (error <= threshold)."""
    if not len(steps) or len(steps) != len(errors):
        raise ValueError(f"need one error per logged step, got {len(steps)} steps and {len(errors)} errors")
    for i, (step, err) in enumerate(zip(steps, errors)):
        if err <= threshold:
            if i == 0:
                return Reach(float(step), "<=")
            s0, e0 = steps[i - 1], errors[i - 1]
            return Reach(float(s0 + (e0 - threshold) / (e0 - err) * (step - s0)))
    return Reach(float(steps[-1]), ">")


@dataclass(frozen=True)
class Ratio:
    """mean steps of the slow group / mean steps of the fast group; `relation` as in Reach, or "?" when the
    bounds point both ways and nothing can be said."""

    value: float
    relation: str

    def __str__(self) -> str:
        words = {"=": "", ">": "more than ", "<=": "at most ", ">=": "at least "}
        if self.relation == "?":
            return "not determined (bounds on both sides)"
        return f"{words[self.relation]}{self.value:.2f}x"


def ratio_of_means(slow: list[Reach], fast: list[Reach]) -> Ratio:
    """mean(slow) / mean(fast), with bounds carried through. When the net that should be faster never reached the
    level and the slower one did, the ratio is an upper bound (at most slow / the fast net's last step): shown, not
    dropped (tanh reached 25% and ReLU never did, and the table printed '-')."""
    value = float(np.mean([r.steps for r in slow]) / np.mean([r.steps for r in fast]))
    up = any(r.relation == ">" for r in slow) or any(r.relation == "<=" for r in fast)  # true ratio larger
    down = any(r.relation == "<=" for r in slow) or any(r.relation == ">" for r in fast)  # true ratio smaller
    if up and down:
        return Ratio(value, "?")
    if up:
        return Ratio(value, ">" if any(r.relation == ">" for r in slow) else ">=")
    return Ratio(value, "<=" if down else "=")


def mean_reach(reaches: list[Reach]) -> Reach:
    """The mean over seeds, a bound when any seed's value is one ("~" when bounds point both ways)."""
    relations = {r.relation for r in reaches} - {"="}
    relation = "=" if not relations else relations.pop() if len(relations) == 1 else "~"
    return Reach(float(np.mean([r.steps for r in reaches])), relation)
