"""Figure 3 as numbers: the conv1 low-frequency share (kernels.py) of every seed, against freshly initialised
kernels and, when it was run, against a net trained on shuffled labels (the `shuffled_labels` experiment: what
training imprints without learning the classes, which tells learned detectors from a low-pass imprint)."""

from __future__ import annotations

import numpy as np

from alexnet_repro import results as R
from alexnet_repro.report import kernels
from alexnet_repro.report.numbers import Figure3

INIT_SEEDS = (0, 1, 2)  # fresh initialisations that the trained kernels are compared with
SHUFFLED = "shuffled_labels"


def _seed_kernels(result: R.ExperimentResult) -> tuple[list[np.ndarray], bool]:
    """Every seed's conv1 (result.conv1_seeds, (seeds, K, 3, 11, 11)) or, in results that predate it, the first
    seed's alone; and whether it was every seed."""
    every = getattr(result, "conv1_seeds", None)
    if every is not None:
        return list(every), True
    return ([] if result.conv1 is None else [result.conv1]), False


def figure3(found: dict[str, R.ExperimentResult], baseline: str) -> Figure3 | None:
    base = found[baseline]
    trained, every = _seed_kernels(base)
    if not trained:
        return None
    model = base.runs[base.seeds[0]].config.get("model", {})
    init = tuple(kernels.low_frequency_share(kernels.initial_conv1(model, len(base.classes), s)) for s in INIT_SEEDS)
    shuffled = None
    if SHUFFLED in found:
        shuffled = tuple(kernels.low_frequency_share(k) for k in _seed_kernels(found[SHUFFLED])[0]) or None
    return Figure3(trained[0], base.towers, tuple(kernels.low_frequency_share(k) for k in trained),
                   "every seed" if every else "the first seed only (this result holds no conv1_seeds)",
                   init, INIT_SEEDS, shuffled, kernels.white_noise_share(trained[0].shape[-1]))
