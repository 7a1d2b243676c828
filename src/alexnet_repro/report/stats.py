"""Paired bootstrap of error-rate differences over validation images (and over seeds when there are several)."""

from __future__ import annotations

import numpy as np


def paired_bootstrap(errors_a: np.ndarray, errors_b: np.ndarray, samples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """Difference in error rate, b - a, with a percentile confidence interval.

    errors_*: 0/1 arrays, (images,) for one net each, or (seeds, images) for several seeds per side. Each
    draw resamples images (the same images for both sides: paired) and, with several seeds, seeds too."""
    a = np.atleast_2d(np.asarray(errors_a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(errors_b, dtype=np.float64))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"paired bootstrap needs the same images on both sides ({a.shape[1]} vs {b.shape[1]})")
    rng = np.random.default_rng(seed)
    n = a.shape[1]
    point = b.mean() - a.mean()
    draws = np.empty(samples)
    for k in range(samples):
        images = rng.integers(0, n, n)
        seeds_a = rng.integers(0, len(a), len(a))
        seeds_b = rng.integers(0, len(b), len(b))
        draws[k] = b[seeds_b][:, images].mean() - a[seeds_a][:, images].mean()
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(point), float(low), float(high)


def verdict(low: float, high: float, paper_sign: int | None) -> str:
    """Does our interval agree with the direction the paper reports (+1: removing the feature hurts)?"""
    if paper_sign is None:
        return "no number in the paper"
    if low > 0:
        return "agrees" if paper_sign > 0 else "contradicts"
    if high < 0:
        return "contradicts" if paper_sign > 0 else "agrees"
    return "inconclusive"


def epochs_to_threshold(errors: list[float], threshold: float) -> float | None:
    """First (linearly interpolated) epoch count at which a per-epoch error curve reaches the threshold."""
    previous = None
    for epoch, err in enumerate(errors, start=1):
        if err <= threshold:
            if previous is None:
                return float(epoch)
            return epoch - 1 + (previous - threshold) / (previous - err)
        previous = err
    return None
