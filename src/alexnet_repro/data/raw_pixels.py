"""The CIFAR-10 nets' input as cuda-convnet fed it: raw 0-255 pixels less the per-pixel mean image of the training
set (the scale the layer files' initW values assume), the whole split in memory."""

from __future__ import annotations

import torch

from alexnet_repro.data.dataset import decoded_split
from alexnet_repro.data.pixel_stats import PixelStats
from alexnet_repro.data.store import ShardReader


def mean_subtracted(store_dir: str, stats_path: str, side: int, split: str = "train"
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, side, side) float32 pixels in 0-255 less the mean image, channels-last; (N,) labels."""
    images = decoded_split(store_dir, split, side)  # (N, S, S, 3) uint8, decoded once per process
    mean = torch.from_numpy(PixelStats.load(stats_path).mean_image * 255.0)
    if mean.shape != images.shape[1:]:
        raise ValueError(f"{stats_path}: the mean image is {tuple(mean.shape)}, the store's images are "
                         f"{tuple(images.shape[1:])}: run the pca stage for this store")
    x = (images.float() - mean).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    return x, torch.from_numpy(ShardReader(store_dir, split).labels)
