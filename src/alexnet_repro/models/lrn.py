"""Local response normalisation applied within each tower (paper sections 3.3 and 3.5).

b[i] = a[i] / (k + alpha' * sum_{j in window(i)} a[j]^2) ** beta, the window being n adjacent channels
*of the same tower*: on one device the towers are channel groups, and tower 1's kernels must never see
tower 2's activity, as when each ran on its own GPU.

alpha convention. The paper's formula reads alpha' = alpha. Krizhevsky's cuda-convnet, Caffe and
``torch.nn.LocalResponseNorm`` all use alpha' = alpha / n. We follow the original code by default
(``alpha_over_n=True``, so k=2, n=5, alpha=1e-4, beta=0.75 is exactly cuda-convnet's layer);
``alpha_over_n=False`` gives the formula read literally, 5x stronger normalisation. Both are tested against
the formula and against ``torch.nn.LocalResponseNorm``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def window_sums(x: torch.Tensor, towers: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, S): x as (B*towers, C/towers, H, W), so the channel window cannot cross a tower boundary, and S, the
    sum of a^2 over channels max(0, i-n/2)..min(N-1, i+n/2). Differences of a running sum: half the time of
    torch.nn.LocalResponseNorm's avg_pool3d on a CPU (tests/test_model.py checks it against the formula)."""
    b, c, h, w = x.shape
    a = x.reshape(b * towers, c // towers, h, w)
    squares = F.pad(a * a, (0, 0, 0, 0, size // 2 + 1, (size - 1) // 2))
    running = squares.cumsum(1)
    return a, running[:, size:] - running[:, :-size]


class TowerLRN(nn.Module):
    def __init__(self, towers: int, size: int, alpha: float, beta: float, k: float, alpha_over_n: bool = True):
        super().__init__()
        self.towers, self.size, self.beta, self.k = towers, size, beta, k
        self.scale = alpha / size if alpha_over_n else alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, window = window_sums(x, self.towers, self.size)
        return (a / (self.k + self.scale * window).pow(self.beta)).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"towers={self.towers}, size={self.size}, alpha'={self.scale:g}, beta={self.beta}, k={self.k}"


class ConstantGain(nn.Module):
    """x * gain: what TowerLRN reduces to when k dominates the window sum (the lrn_gain control experiment)."""

    def __init__(self, gain: float):
        super().__init__()
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain

    def extra_repr(self) -> str:
        return f"gain={self.gain:.4f}"
