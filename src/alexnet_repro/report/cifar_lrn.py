"""Section 3.3's CIFAR-10 claim from the lrn_cifar stages' results (cifar_lrn/): each net's test error over seeds,
the paper's pair (13pct minus 11pct: the claim, a family of one on its own data) and normalisation's effect alone
(11pct without its cmrnorm layers minus 11pct: a mechanism check, no verdict), each interval as the ablations'
(stats.effect: paired t over seeds, which share their draws), and the divisor's measured movement (rule (2))."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alexnet_repro.cifar_lrn.config import NETS
from alexnet_repro.cifar_lrn.result import CifarLrnResult
from alexnet_repro.report.stats import Effect, effect

NORMALISED = "layers-conv-local-11pct"  # the paper's 11%
UNNORMALISED = "layers-conv-local-13pct"  # the paper's 13%
CONTROL = "layers-conv-local-11pct-no-rnorm"  # ours: 11pct less its cmrnorm layers


@dataclass(frozen=True)
class NetError:
    net: str
    seeds: tuple[int, ...]
    test_errors: tuple[float, ...]
    train_error: float  # the last epoch's, mean over seeds

    @property
    def mean(self) -> float:
        return float(np.mean(self.test_errors))


@dataclass(frozen=True)
class CifarLrn:
    dataset: str
    epochs: int
    views: str
    train_images: int
    test_images: int
    nets: tuple[NetError, ...]
    pair: Effect | None  # 13pct - 11pct (the paper: +2 points)
    normalisation: Effect | None  # 11pct-no-rnorm - 11pct
    divisor_moves: float | None  # the most any cmrnorm layer's divisor moved in the 11pct nets (95th / 5th pct - 1)


def _rates(r: CifarLrnResult) -> dict[str, float]:
    return {f"seed{s.seed}": s.test_error for s in r.seeds}


def _effect(results: dict[str, CifarLrnResult], a: str, b: str) -> Effect | None:
    return effect(_rates(results[a]), _rates(results[b])) if a in results and b in results else None


def cifar_lrn(results: dict[str, CifarLrnResult]) -> CifarLrn | None:
    """From cifar_lrn/result.load_all's {net: result}; None when no net was run."""
    if not results:
        return None
    ordered = sorted(results.values(), key=lambda r: NETS.index(r.net))  # 13pct, 11pct, the control
    first = ordered[0]
    nets = tuple(NetError(net=r.net, seeds=tuple(s.seed for s in r.seeds), test_errors=tuple(r.test_errors),
                          train_error=float(np.mean([s.train_error for s in r.seeds]))) for r in ordered)
    moves = [m for s in results[NORMALISED].seeds for m in s.divisor_moves.values()] if NORMALISED in results else []
    return CifarLrn(dataset=first.dataset, epochs=first.epochs, views=first.views, train_images=first.train_images,
                    test_images=first.test_images, nets=nets, pair=_effect(results, NORMALISED, UNNORMALISED),
                    normalisation=_effect(results, NORMALISED, CONTROL), divisor_moves=max(moves) if moves else None)
