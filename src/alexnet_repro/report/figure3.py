"""Figure 3 as numbers, per seed of the baseline and against that run's own initial weights (rebuilt from its seed:
seeds.init_seed): the conv1 low-frequency share (learned detectors or noise) and the towers' colour specialisation
(section 6.1: one tower's kernels largely colour-agnostic, the other's colour-specific), and the low-frequency share
of a net trained on shuffled labels when it was run (the `shuffled_labels` experiment: what training imprints
without learning the classes, which tells learned detectors from a low-pass imprint)."""

from __future__ import annotations

import numpy as np

from alexnet_repro import results as R
from alexnet_repro.report import kernels
from alexnet_repro.report.numbers import Figure3
from alexnet_repro.seeds import init_seed

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
    names = base.seeds[:len(trained)]
    seeds = tuple(int(base.runs[s].config["seed"]) for s in names)
    model = base.runs[names[0]].config.get("model", {})
    init = [kernels.initial_conv1(model, len(base.classes), init_seed(s)) for s in seeds]
    shuffled = None
    if SHUFFLED in found:
        shuffled = tuple(kernels.low_frequency_share(k) for k in _seed_kernels(found[SHUFFLED])[0]) or None
    towers = base.towers
    return Figure3(kernels=trained[0], towers=towers, trained=tuple(kernels.low_frequency_share(k) for k in trained),
                   seeds_source="every seed" if every else "the first seed only (this result holds no conv1_seeds)",
                   init=tuple(kernels.low_frequency_share(k) for k in init), init_seeds=seeds, shuffled=shuffled,
                   white_noise=kernels.white_noise_share(trained[0].shape[-1]),
                   colour=tuple(kernels.tower_colour(k, towers) for k in trained),
                   colour_init=tuple(kernels.tower_colour(k, towers) for k in init))
