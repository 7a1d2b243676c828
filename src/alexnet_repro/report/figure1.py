"""Figure 1 (section 3.1) as numbers: which ReLU and tanh runs to compare, and the ratio of their steps to a
training-error level, as a curve over levels rather than one number.

The paper's comparison is of two nets that differ only in the activation, each with its own best learning rate and
no regularisation (no dropout, weight decay or augmentation). Runs named `figure1_*` are that control: per
activation, the learning rate whose final TRAINING error is lowest is used (a training-set quantity, so choosing it
does not peek at validation). Without them the baseline and `tanh` are compared, and the report says what that
comparison lacks."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from alexnet_repro import results as R
from alexnet_repro import speed
from alexnet_repro.report.numbers import Figure1, Figure1Net

LEVELS = tuple(float(x) for x in np.round(np.arange(0.2, 0.801, 0.05), 2))  # training-error levels of the curve
PREFIX = "figure1_"
MISSING_CONTROLS = ("the paper's controls are missing: these runs keep dropout, weight decay and augmentation, "
                    "and tanh uses ReLU's learning rate rather than its own (no `figure1_*` results)")


def _runs(found: dict[str, R.ExperimentResult]) -> dict[tuple[str, float], list[tuple[str, R.SeedRun]]]:
    """figure1_* runs grouped by (activation, learning rate)."""
    groups: dict[tuple[str, float], list[tuple[str, R.SeedRun]]] = defaultdict(list)
    for name, result in found.items():
        if name.startswith(PREFIX):
            for seed in result.seeds:
                run = result.runs[seed]
                key = (run.config.get("model", {}).get("activation", "relu"), float(run.config["optim"]["lr"]))
                groups[key].append((f"{name}/{seed}", run))
    return groups


def _final_train_error(runs: list[tuple[str, R.SeedRun]]) -> float:
    return float(np.mean([run.history["train/err_top1"][-1] for _, run in runs]))


def _net(label: str, lr: float | None, runs: list[tuple[str, R.SeedRun]], threshold: float) -> Figure1Net:
    histories = tuple(run.history for _, run in runs)
    reaches = tuple(speed.steps_to_threshold(h["step"], h["train/err_top1"], threshold) for h in histories)
    return Figure1Net(label, lr, tuple(s for s, _ in runs), reaches, histories)


def _pick(groups: dict, activation: str, threshold: float) -> Figure1Net | None:
    """The learning rate with the lowest final training error for this activation."""
    options = {lr: runs for (act, lr), runs in groups.items() if act == activation}
    if not options:
        return None
    lr = min(options, key=lambda x: _final_train_error(options[x]))
    return _net(f"{'ReLU' if activation == 'relu' else 'tanh'}, lr {lr:g}", lr, options[lr], threshold)


def _seed_runs(result: R.ExperimentResult) -> list[tuple[str, R.SeedRun]]:
    return [(s, result.runs[s]) for s in result.seeds]


def figure1(found: dict[str, R.ExperimentResult], baseline: str, threshold: float) -> Figure1 | None:
    groups = _runs(found)
    relu, tanh = _pick(groups, "relu", threshold), _pick(groups, "tanh", threshold)
    if relu is not None and tanh is not None:
        source, missing = "figure1 runs", None
    elif "tanh" in found:
        source, missing = "baseline and tanh", MISSING_CONTROLS
        relu = _net("ReLU (baseline)", None, _seed_runs(found[baseline]), threshold)
        tanh = _net("tanh", None, _seed_runs(found["tanh"]), threshold)
    else:
        return None
    curve = tuple((level, ratio(tanh, relu, level)) for level in LEVELS)
    return Figure1(source, missing, threshold, relu, tanh, speed.ratio_of_means(list(tanh.reaches),
                                                                                 list(relu.reaches)), curve)


def ratio(slow: Figure1Net, fast: Figure1Net, level: float) -> speed.Ratio | None:
    """tanh's mean steps to `level` over ReLU's (speed.ratio_of_means), from the nets' histories."""
    def reach(net: Figure1Net) -> list[speed.Reach]:
        return [speed.steps_to_threshold(h["step"], h["train/err_top1"], level) for h in net.histories]

    return speed.ratio_of_means(reach(slow), reach(fast))
