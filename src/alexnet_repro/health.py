"""Run health, by a rule fixed before any run: training records it in its summary, the report lists flagged
runs and shows every effect with and without them (a flagged run is never dropped silently)."""

from __future__ import annotations

import math

CHANCE_MARGIN = 0.05  # final training error within this of chance (1 - 1/classes) counts as collapsed
RULE = (f"A run is flagged *diverged* when its training loss became NaN or infinite, and *collapsed* when its "
        f"final training top-1 error lies within {CHANCE_MARGIN * 100:.0f} points of chance (1 - 1/classes) or its "
        "learning rate reached the schedule's floor (every reduction used) before half of its epochs; the rule is "
        "fixed in code (src/alexnet_repro/health.py) before any run.")


def classify(train_loss: list[float], train_error: list[float], lr: list[float], classes: int, lr_floor: float,
             planned_epochs: int) -> dict:
    """{"status": "ok" | "diverged" | "collapsed", "reason": ...} from a run's per-epoch history."""
    if any(not math.isfinite(x) for x in train_loss):
        return {"status": "diverged", "reason": "the training loss became NaN or infinite"}
    chance = 1.0 - 1.0 / classes
    if train_error and train_error[-1] >= chance - CHANCE_MARGIN:
        return {"status": "collapsed",
                "reason": f"final training error {train_error[-1]:.3f}, chance {chance:.3f}"}
    floored = [epoch for epoch, rate in enumerate(lr) if rate <= lr_floor]
    if floored and floored[0] + 1 < planned_epochs / 2:
        return {"status": "collapsed",
                "reason": f"the learning rate reached its floor {lr_floor:g} in epoch {floored[0] + 1} of "
                          f"{planned_epochs}"}
    return {"status": "ok", "reason": ""}
