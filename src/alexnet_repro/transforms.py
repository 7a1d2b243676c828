"""Augmentation and normalisation on whole batches, on the device (sections 2 and 4.1), and the two presets
that training, evaluation and the notebook share (torchvision's references/classification/presets.py style).

The loader yields uint8 (B, 3, 256, 256) images and nothing else; everything here runs where the model
runs. The order follows the paper: lighting and mean subtraction act on the 256x256 image, then a crop
(random 227x227 patch and reflection in training; the centre or the ten patches when testing).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:  # the augment group's schema, for its type only: importing it registers it with Hydra
    from alexnet_repro.training.config import AugmentConfig


def crop_and_flip(images: torch.Tensor, top: list[int], left: list[int], flip: list[bool], size: int):
    """Per-image crops: images (B, C, H, W); top, left, flip: one Python value per image. The CPU's way
    (patches_numpy): slicing copies, one per image, 4x cheaper there than one gather (a GPU gathers instead)."""
    out = images.new_empty((images.shape[0], images.shape[1], size, size))
    for b, (t, l, mirror) in enumerate(zip(top, left, flip)):
        patch = images[b, :, t : t + size, l : l + size]
        out[b] = patch.flip(-1) if mirror else patch
    return out


def patch_indices(top: list[int], left: list[int], flip: list[bool], size: int, device: torch.device):
    """(rows, cols), each (B, size): the rows and columns of every patch, a mirror's columns reversed. Built on
    the host and sent in one copy from pinned memory that does not wait for the device's queued work."""
    steps = torch.arange(size)
    rows = torch.tensor(top)[:, None] + steps
    start = torch.tensor(left)[:, None]
    cols = torch.where(torch.tensor(flip)[:, None], start + size - 1 - steps, start + steps)
    both = torch.stack([rows, cols])
    both = both.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else both.to(device)
    return both[0], both[1]


def gather_patches(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """crop_and_flip's result in one gather, for a GPU, where a loop over the batch would launch a copy and a
    flip per image (256 launches for a batch of 128). images: (B, C, H, W), or (C, H, W) shared by all (the mean
    image). Returns (B, C, S, S) with channels last in memory, the layout channels_last convolutions read."""
    hwc = images.movedim(-3, -1)  # a view
    if images.dim() == 3:
        return hwc[rows[:, :, None], cols[:, None, :]].movedim(-1, 1)
    batch = torch.arange(images.shape[0], device=images.device)[:, None, None]
    return hwc[batch, rows[:, :, None], cols[:, None, :]].movedim(-1, 1)


def random_patches(b: int, h: int, w: int, size: int, flip: bool, generator=None):
    """Section 4.1's random patch and reflection for each of b images: (top, left, mirror) lists, drawn on the
    host (torch's global CPU generator unless one is given)."""
    top = torch.randint(0, h - size + 1, (b,), generator=generator).tolist()
    left = torch.randint(0, w - size + 1, (b,), generator=generator).tolist()
    mirror = (torch.rand(b, generator=generator) < 0.5).tolist() if flip else [False] * b
    return top, left, mirror


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


@dataclass(frozen=True)
class Normalization:
    """What turns a stored uint8 image into the net's input: section 2's mean subtraction at a scale.
    Saved inside every exported model, so evaluation needs nothing but the model file."""

    mean: str  # image (per-pixel mean, the paper) | channel | none
    input_scale: float  # the paper feeds raw 0..255 values minus the mean
    mean_image: np.ndarray  # (S, S, 3) in [0, 1], at the side S the loader decodes images at (256: the paper)
    mean_rgb: np.ndarray  # (3,) in [0, 1]

    @property
    def image_size(self) -> int:
        """The side of the images this normalisation expects (and the loader must decode at)."""
        return int(self.mean_image.shape[0])


class _Preset(nn.Module):
    """Every preset computes u8 * (scale / 255) + shift * scale - mean * scale, in this order, in float32: the
    paper's (u8 / 255 + shift - mean) * scale with the constants folded, so each pixel takes three operations."""

    def __init__(self, norm: Normalization, crop_size: int):
        super().__init__()
        self.mean, self.input_scale, self.crop_size = norm.mean, norm.input_scale, crop_size
        self.image_size = norm.image_size
        self.gain = norm.input_scale / 255.0
        mean = {"image": torch.as_tensor(norm.mean_image, dtype=torch.float32).permute(2, 0, 1),
                "channel": torch.as_tensor(norm.mean_rgb, dtype=torch.float32)[:, None, None],
                "none": torch.zeros(3, 1, 1)}[norm.mean]
        self.register_buffer("mean_tensor", (mean * norm.input_scale).contiguous(), persistent=False)

    def on(self, device: torch.device) -> _Preset:
        """Itself on `device`; a no-op check per batch once it is there (the training step calls this)."""
        return self if self.mean_tensor.device == device else self.to(device)

    def to_float(self, images: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (B, 3, S, S) -> float, shifted (lighting), mean-subtracted and scaled; still S x S."""
        x = images.float().mul_(self.gain)
        if shift is not None:
            x += shift * self.input_scale
        return x.sub_(self.mean_tensor)


class TrainPreset(_Preset):
    """Section 4.1 in training: PCA lighting on the whole image, mean subtraction, a random patch, a mirror.
    augment: the lighting, patch and mirror switches (its mean and input_scale are the Normalization's)."""

    def __init__(self, norm: Normalization, crop_size: int, eigenvalues: np.ndarray, eigenvectors: np.ndarray,
                 augment: AugmentConfig):
        super().__init__(norm, crop_size)
        self.augment = augment
        self.register_buffer("eigenvalues", torch.as_tensor(eigenvalues, dtype=torch.float32), persistent=False)
        self.register_buffer("eigenvectors", torch.as_tensor(eigenvectors, dtype=torch.float32), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        shift = None
        a = self.augment
        if a.lighting_std > 0:
            shift = lighting_shift(images.shape[0], self.eigenvalues, self.eigenvectors, a.lighting_std,
                                   a.lighting_sqrt_eigenvalues)
        if a.random_crop:
            # The paper's order (lighting and mean on the whole image, then the patch), computed patch first:
            # every pixel gets the same float operations, so the result is identical, but the uint8 patches
            # are cut before the float work, which then touches 79% of the pixels (227^2 of 256^2) instead of all.
            b, _, h, w = images.shape
            patch = random_patches(b, h, w, self.crop_size, a.flip)
            on_cpu = images.device.type == "cpu"
            return (self.patches_numpy if on_cpu else self.patches_torch)(images, patch, shift)
        x = center_crop(self.to_float(images, shift), self.crop_size)
        if a.flip:
            mirror = (torch.rand(x.shape[0], device=x.device) < 0.5)[:, None, None, None]
            x = torch.where(mirror, x.flip(-1), x)
        return x.contiguous()

    def patches_torch(self, images: torch.Tensor, patch, shift: torch.Tensor | None) -> torch.Tensor:
        """The device's way: whole-batch operations, the patches (and their mean) cut by one gather each."""
        rows, cols = patch_indices(*patch, self.crop_size, images.device)
        x = gather_patches(images, rows, cols).float().mul_(self.gain)
        if shift is not None:
            x += shift * self.input_scale
        mean = self.mean_tensor
        return x.sub_(gather_patches(mean, rows, cols) if self.mean == "image" else mean)

    @cached_property
    def _mean_mirrored(self) -> np.ndarray:
        """patches_numpy reads a mirrored patch's mean, unmirrored, from here (numpy reads backwards slowly)."""
        return np.ascontiguousarray(self.mean_tensor.cpu().numpy()[..., ::-1])

    def patches_numpy(self, images: torch.Tensor, patch, shift: torch.Tensor | None) -> torch.Tensor:
        """The same numbers on a CPU, where torch converts uint8 to float32 about 5x slower than numpy (bench/
        decode_choices.py). Every read is forward: torch cuts and mirrors the uint8 patches (cheap), and a
        mirrored patch's mean is read, unmirrored, from the mirrored mean image."""
        s, w = self.crop_size, images.shape[-1]
        out = np.multiply(crop_and_flip(images, *patch, s).numpy(), np.float32(self.gain), dtype=np.float32)
        if shift is not None:
            out += (shift * self.input_scale).numpy()
        mean = self.mean_tensor.numpy()
        if self.mean != "image":
            return torch.from_numpy(np.subtract(out, mean, out=out))
        mirrored = self._mean_mirrored
        for b, (t, l, mirror) in enumerate(zip(*patch)):
            m = mirrored[:, t : t + s, w - l - s : w - l] if mirror else mean[:, t : t + s, l : l + s]
            np.subtract(out[b], m, out=out[b])
        return torch.from_numpy(out)


class EvalPreset(_Preset):
    """Section 4.1 at test time: the centre patch (B, 3, S, S), or the ten patches (B, 10, 3, S, S)."""

    def forward(self, images: torch.Tensor, ten: bool = False) -> torch.Tensor:
        x = self.to_float(images)
        return ten_crop(x, self.crop_size) if ten else center_crop(x, self.crop_size).contiguous()
