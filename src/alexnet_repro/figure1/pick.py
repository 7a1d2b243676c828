"""The learning rate Figure 1 compares each activation at: "the learning rates for each network were chosen
independently to make training as fast as possible" (section 3.1). Chosen on pilot seeds only, by the figure's own
quantity (mean steps to the level), never on the seeds the figure reports."""

from __future__ import annotations

import numpy as np

from alexnet_repro.figure1.result import Curve, Pick
from alexnet_repro.speed import mean_reach


def pick(pilots: list[Curve], level: float) -> Pick:
    """The grid's rate with the fewest mean steps to `level` over the pilot seeds. A rate whose pilots did not all
    reach the level ranks after every rate whose pilots did, and among such rates by their (lower-bound) steps."""
    scales = sorted({c.lr_scale for c in pilots})
    means = {s: mean_reach([c.reach(level) for c in pilots if c.lr_scale == s]) for s in scales}

    def rank(s: float) -> tuple[bool, float]:
        return (means[s].relation in (">", "~"), means[s].steps)

    best = min(scales, key=rank)
    return Pick(best, best in (scales[0], scales[-1]),
                {f"{s:g}": [float(np.round(means[s].steps, 2)), means[s].relation] for s in scales})
