"""Local response normalisation applied within each tower (paper sections 3.3 and 3.5).

b[i] = a[i] / (k + alpha' * sum_{j in window(i)} a[j]^2) ** beta, the window being n adjacent channels
*of the same tower*: on one device the towers are channel groups, and tower 1's kernels must never see
tower 2's activity, as when each ran on its own GPU.

alpha convention. The paper's formula reads alpha' = alpha. Krizhevsky's cuda-convnet, Caffe and
``torch.nn.LocalResponseNorm`` all use alpha' = alpha / n. We follow the original code by default
(``alpha_over_n=True``, so k=2, n=5, alpha=1e-4, beta=0.75 is exactly cuda-convnet's layer);
``alpha_over_n=False`` gives the formula read literally, 5x stronger normalisation.
"""

from __future__ import annotations

import torch
from torch import nn


class TowerLRN(nn.Module):
    def __init__(self, towers: int, size: int, alpha: float, beta: float, k: float, alpha_over_n: bool = True):
        super().__init__()
        self.towers = towers
        # torch divides alpha by `size` itself; pre-multiply to get the literal formula.
        torch_alpha = alpha if alpha_over_n else alpha * size
        self.lrn = nn.LocalResponseNorm(size, alpha=torch_alpha, beta=beta, k=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # (B, C, H, W) -> (B*towers, C/towers, H, W): the channel window cannot cross a tower boundary.
        per_tower = x.reshape(b * self.towers, c // self.towers, h, w)
        return self.lrn(per_tower).reshape(b, c, h, w)

    def extra_repr(self) -> str:
        return f"towers={self.towers}"
