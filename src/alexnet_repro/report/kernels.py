"""Figure 3 as a number: how smooth are the conv1 kernels, trained against freshly initialised?

The measure: for each kernel, the share of its spectral energy at low spatial frequencies. Every colour channel
of an (h, w) kernel has its mean removed (a constant offset says nothing about structure), then the energy
|2-D DFT|^2 is summed over the channels; the share is the energy at frequencies within `radius` cycles per
kernel width of zero, over the total. White noise spreads its energy evenly over the frequency bins, so its
expected share is the fraction of non-zero bins inside the radius (12 of 120, 10%, for 11x11 and radius 2);
smooth blobs, edges and the low-frequency gratings learned filters look like put most of theirs there.
"""

from __future__ import annotations

import numpy as np
import torch

from alexnet_repro.models.alexnet import AlexNet
from alexnet_repro.report.confounds import model_spec

LOW_RADIUS = 2.0  # cycles per kernel width; 11x11 kernels resolve up to 5


def _radii(h: int, w: int) -> np.ndarray:
    """(h, w) distance of each DFT bin from zero frequency, in cycles per kernel width."""
    fy, fx = np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w
    return np.hypot(fy[:, None], fx[None, :])


def low_frequency_shares(kernels: np.ndarray, radius: float = LOW_RADIUS) -> np.ndarray:
    """(K,) share of each kernel's spectral energy within `radius` cycles per kernel; kernels (K, C, h, w).
    A kernel with no energy left after mean removal (a constant) gets NaN."""
    k = np.asarray(kernels, dtype=np.float64)
    k = k - k.mean(axis=(-2, -1), keepdims=True)
    energy = (np.abs(np.fft.fft2(k)) ** 2).sum(axis=1)  # (K, h, w), channels summed
    low = energy[:, _radii(*k.shape[-2:]) <= radius].sum(axis=1)
    total = energy.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, low / total, np.nan)


def low_frequency_share(kernels: np.ndarray, radius: float = LOW_RADIUS) -> float:
    """Mean over kernels of `low_frequency_shares`: one number per conv1."""
    return float(np.nanmean(low_frequency_shares(kernels, radius)))


def colour_shares(kernels: np.ndarray) -> np.ndarray:
    """(K,) share of each kernel's energy off the grey axis: |w - grey(w)|^2 / |w|^2, grey(w) the mean over the
    colour channels at each pixel, each channel's spatial mean removed first. 0 for a colour-agnostic kernel (the
    same pattern in R, G and B), 2/3 expected for random ones, 1 for a purely colour-opponent one."""
    k = np.asarray(kernels, dtype=np.float64)
    k = k - k.mean(axis=(-2, -1), keepdims=True)
    off = ((k - k.mean(axis=1, keepdims=True)) ** 2).sum(axis=(1, 2, 3))
    total = (k ** 2).sum(axis=(1, 2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, off / total, np.nan)


def tower_colour(kernels: np.ndarray, towers: int) -> tuple[float, ...]:
    """Mean colour share (colour_shares) of each tower's kernels: conv1's K kernels split into `towers` equal
    groups in order, as the grouped convolution splits them."""
    shares = colour_shares(kernels)
    return tuple(float(np.nanmean(group)) for group in np.split(shares, towers))


def specialisation(kernels: np.ndarray, towers: int) -> float | None:
    """How far the towers differ in colour: the largest tower mean colour share less the smallest (section 6.1's
    claim, 'modulo a renumbering of the GPUs'); None for one tower."""
    if towers < 2:
        return None
    means = tower_colour(kernels, towers)
    return max(means) - min(means)


COLOUR_WHITE_NOISE = 2 / 3  # expected colour share of a kernel with independent channels of equal variance


def white_noise_share(size: int = 11, radius: float = LOW_RADIUS) -> float:
    """Expected share for white-noise kernels: the non-zero frequency bins within the radius, over all non-zero."""
    r = _radii(size, size)
    return float(((r <= radius) & (r > 0)).sum() / (r > 0).sum())


def initial_conv1(model_config: dict, num_classes: int, seed: int) -> np.ndarray:
    """conv1 weights (K, 3, 11, 11) of a freshly initialised net with this run's model config and torch seed
    (seeds.init_seed(run seed) gives a run's own initial weights). The global torch RNG is left as it was."""
    spec = model_spec({**model_config, "num_classes": num_classes})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = AlexNet(spec)
    return net.features.conv1.weight.detach().numpy().copy()
