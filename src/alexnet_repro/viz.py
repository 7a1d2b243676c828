"""Pictures people would rather look at than read: the conv1 kernels of Figure 3."""

from __future__ import annotations

import numpy as np
import torch


def filter_grid(weight: torch.Tensor, towers: int, columns: int = 8, pad: int = 1) -> list[np.ndarray]:
    """conv1 weights (K, 3, 11, 11) -> one uint8 RGB mosaic per tower, each kernel scaled to [0, 255]."""
    w = weight.detach().float().cpu()
    lo = w.amin(dim=(1, 2, 3), keepdim=True)
    hi = w.amax(dim=(1, 2, 3), keepdim=True)
    w = ((w - lo) / (hi - lo).clamp_min(1e-12)).permute(0, 2, 3, 1).numpy()  # (K, 11, 11, 3) in [0, 1]
    grids = []
    for tower in np.array_split(w, towers):
        rows = -(-len(tower) // columns)
        k = tower.shape[1]
        grid = np.ones((rows * (k + pad) + pad, columns * (k + pad) + pad, 3))
        for i, kernel in enumerate(tower):
            r, c = divmod(i, columns)
            grid[pad + r * (k + pad): pad + r * (k + pad) + k, pad + c * (k + pad): pad + c * (k + pad) + k] = kernel
        grids.append((grid * 255).round().astype(np.uint8))
    return grids
