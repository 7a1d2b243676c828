"""Augmentation and normalisation on whole batches, on the training device (sections 2 and 4.1).

The loader yields uint8 (B, 3, 256, 256) images and nothing else; everything here runs where the model
runs. The order follows the paper: lighting and mean subtraction act on the 256x256 image, then a crop
(random 227x227 patch and reflection in training; the centre or the ten patches when testing).
"""

from __future__ import annotations

import torch


def crop_and_flip(images: torch.Tensor, top: list[int], left: list[int], flip: list[bool], size: int):
    """Per-image crops: images (B, C, H, W); top, left, flip: one Python value per image.
    Slicing copies, one per image: 4x cheaper than one advanced-indexing gather on a CPU (bench in the
    commit notes), and with host-side offsets a GPU never waits for the host."""
    out = images.new_empty((images.shape[0], images.shape[1], size, size))
    for b, (t, l, mirror) in enumerate(zip(top, left, flip)):
        patch = images[b, :, t : t + size, l : l + size]
        out[b] = patch.flip(-1) if mirror else patch
    return out


def random_crop_and_flip(images: torch.Tensor, size: int, flip: bool, generator=None) -> torch.Tensor:
    """Section 4.1: a random size x size patch of each image, mirrored with probability 1/2.
    Offsets are drawn on the host (torch's global CPU generator unless one is given)."""
    b, _, h, w = images.shape
    top = torch.randint(0, h - size + 1, (b,), generator=generator).tolist()
    left = torch.randint(0, w - size + 1, (b,), generator=generator).tolist()
    mirror = (torch.rand(b, generator=generator) < 0.5).tolist() if flip else [False] * b
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
