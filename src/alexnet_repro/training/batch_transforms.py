"""Augmentation and normalisation on whole batches, on the training device (sections 2 and 4.1).

The loader yields uint8 (B, 3, 256, 256) images and nothing else; everything here runs where the model
runs. The order follows the paper: lighting and mean subtraction act on the 256x256 image, then a crop
(random 227x227 patch and reflection in training; the centre or the ten patches when testing).
"""

from __future__ import annotations

import torch


def crop_and_flip(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor, size: int):
    """Per-image crops in one gather: images (B, C, H, W); top, left (B,) ints; flip (B,) bool."""
    steps = torch.arange(size, device=images.device)
    rows = top[:, None] + steps  # (B, size)
    cols = left[:, None] + torch.where(flip[:, None], size - 1 - steps, steps)  # (B, size), reversed if flipped
    batch = torch.arange(images.shape[0], device=images.device)[:, None, None]
    patches = images[batch, :, rows[:, :, None], cols[:, None, :]]  # (B, size, size, C)
    return patches.permute(0, 3, 1, 2)


def random_crop_and_flip(images: torch.Tensor, size: int, flip: bool, generator=None) -> torch.Tensor:
    b, _, h, w = images.shape
    dev = images.device
    top = torch.randint(0, h - size + 1, (b,), device=dev, generator=generator)
    left = torch.randint(0, w - size + 1, (b,), device=dev, generator=generator)
    mirror = torch.rand(b, device=dev, generator=generator) < 0.5 if flip else torch.zeros(b, dtype=torch.bool, device=dev)
    return crop_and_flip(images, top, left, mirror, size)


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    h, w = images.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return images[..., top : top + size, left : left + size]


def ten_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """Section 4.1's test-time patches: (B, C, H, W) -> (B, 10, C, size, size), in torchvision TenCrop's order:
    top-left, top-right, bottom-left, bottom-right, centre, then the same five of the mirrored image.
    (The softmax average does not depend on the order; matching it makes the two comparable patch by patch.)"""
    h, w = images.shape[-2:]
    corners = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size), ((h - size) // 2, (w - size) // 2)]
    mirrored = images.flip(-1)
    patches = [source[..., t : t + size, l : l + size] for source in (images, mirrored) for t, l in corners]
    return torch.stack(patches, dim=1)


def lighting_shift(batch: int, eigenvalues: torch.Tensor, eigenvectors: torch.Tensor, std: float,
                   sqrt_eigenvalues: bool = False, generator=None) -> torch.Tensor:
    """Section 4.1: add [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T to every pixel, a_i ~ N(0, std) drawn per image.
    eigenvectors: (3, 3) with p_i as columns. Returns the per-image RGB shift, (B, 3, 1, 1)."""
    scale = eigenvalues.sqrt() if sqrt_eigenvalues else eigenvalues
    alpha = torch.randn(batch, 3, device=eigenvalues.device, generator=generator) * std  # (B, 3)
    shift = (alpha * scale) @ eigenvectors.T  # (B, 3)
    return shift[:, :, None, None]
