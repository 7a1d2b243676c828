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
from torch import nn

from alexnet_repro.models.spec import lrn_scale


def window_sum(x: torch.Tensor, before: int, after: int, dim: int = 1) -> torch.Tensor:
    """sum_{j=i-before}^{i+after} x[j] along `dim` (the channels), for every channel i, the window clipped at 0 and
    C-1. A copy and one in-place add per offset: on a CPU about twice as fast as the running sum (cumsum, then
    differences) it replaces, and exact sums of n terms, not differences of large running sums
    (docs/performance.md, "Embedded training on a CPU")."""
    out = x.clone()
    c = x.shape[dim]
    for o in range(1, min(before, c - 1) + 1):
        out.narrow(dim, o, c - o).add_(x.narrow(dim, 0, c - o))  # j = i - o
    for o in range(1, min(after, c - 1) + 1):
        out.narrow(dim, 0, c - o).add_(x.narrow(dim, o, c - o))  # j = i + o
    return out


def window_sums(x: torch.Tensor, towers: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, S): x as (B*towers, C/towers, H, W), so the channel window cannot cross a tower boundary, and S, the
    sum of a^2 over channels max(0, i-n/2)..min(N-1, i+n/2) (tests/test_model.py checks it against the formula)."""
    b, c, h, w = x.shape
    a = x.reshape(b * towers, c // towers, h, w)
    return a, window_sum(a * a, size // 2, (size - 1) // 2)


class _LRNFunction(torch.autograd.Function):
    """b = a / d^beta, d = k + alpha' S(a^2), with its gradient written out instead of recorded op by op:

        dL/da_i = g_i / d_i^beta - 2 beta alpha' a_i sum_{j: i in window(j)} g_j b_j / d_j

    (the second term: a_i reaches b_j through S_j for every window j that holds i). Autograd's version of the
    same formula walked back through the pad, cumsum, pow and division node by node; this is one window sum
    and four elementwise passes. The forward is the same arithmetic as before but for rounding: exact window
    sums, and the paper's beta = 3/4 as a square root times a fourth root (within 2 ulp of pow, a quarter of
    its time on a CPU)."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, size: int, scale: float, beta: float, k: float, dim: int) -> torch.Tensor:
        d = window_sum(a * a, size // 2, (size - 1) // 2, dim).mul_(scale).add_(k)
        if beta == 0.75:  # d^(1/2) d^(1/4): a quarter of pow's time
            root = d.sqrt()
            p = root.sqrt().mul_(root)
        else:
            p = d.pow(beta)
        b = a / p
        ctx.save_for_backward(a, p, d, b)
        ctx.size, ctx.coefficient, ctx.dim = size, -2.0 * beta * scale, dim
        return b

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: torch.Tensor):
        a, p, d, b = ctx.saved_tensors
        size = ctx.size
        # The windows j that hold i: the forward window mirrored (the same one for odd n).
        t = window_sum(torch.mul(g, b).div_(d), (size - 1) // 2, size // 2, ctx.dim)
        return t.mul_(a).mul_(ctx.coefficient).addcdiv_(g, p), None, None, None, None, None


class TowerLRN(nn.Module):
    def __init__(self, towers: int, size: int, alpha: float, beta: float, k: float, alpha_over_n: bool = True):
        super().__init__()
        self.towers, self.size, self.beta, self.k = towers, size, beta, k
        self.scale = lrn_scale(alpha, size, alpha_over_n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = self.towers
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            # Channels last (trainer.channels_last): the channels are the innermost axis, (B, H, W, towers, C/t) is
            # a view, and so is the result in the same layout; no copy to and from channels first.
            a = x.permute(0, 2, 3, 1).reshape(b, h, w, t, c // t)
            out = _LRNFunction.apply(a, self.size, self.scale, self.beta, self.k, -1)
            return out.reshape(b, h, w, c).permute(0, 3, 1, 2)
        a = x.reshape(b * t, c // t, h, w)
        return _LRNFunction.apply(a, self.size, self.scale, self.beta, self.k, 1).reshape(x.shape)

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
