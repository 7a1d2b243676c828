"""Intervals for ablation effects that include seed-to-seed variation, and the verdict rule built on them.

An ablation effect is the change in error rate, ablation (b) minus baseline (a), on the same validation images. Two
sources of noise move it: which images are in the validation set, and which seed trained each net. A bootstrap over
images alone treats one trained net as the truth and calls seed noise an effect (in 59% of the no-effect comparisons
simulated in tests/test_stats.py). So ``hierarchical_bootstrap`` resamples seeds first and images second, and widens
the interval for the handful of seeds it learnt the seed noise from (without that, 17%); ``verdict`` refuses to judge
an effect measured on fewer than three seeds a side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_SEEDS = 3
LEVEL = 0.95
VERDICT_RULE = (f"A verdict is given only when each side has at least {MIN_SEEDS} finished seeds and the "
                f"{LEVEL:.0%} interval of the effect excludes zero; the interval comes from a bootstrap over seeds "
                "and then images (paired on images), widened to Student-t tails because the seed-to-seed spread is "
                "estimated from so few seeds; otherwise the verdict is inconclusive.")

# Bootstrap draws are made this many (draw x image) cells at a time: 2**21 cells is 16 MiB per int64 or float64 array,
# about 50 MiB at the peak, so 50,000 images take 41 draws per chunk, while small sets get all draws in one pass.
_CHUNK_CELLS = 2**21


@dataclass(frozen=True)
class Effect:
    """Difference in mean error, b - a, with its interval and how many seeds each side had."""

    point: float
    low: float
    high: float
    seeds_a: int
    seeds_b: int


def _as_seed_matrix(errors: np.ndarray) -> np.ndarray:
    """(images,) or (seeds, images) 0/1 errors -> float (seeds, images); one net is one seed."""
    matrix = np.atleast_2d(np.asarray(errors, dtype=np.float64))
    if matrix.ndim != 2:
        raise ValueError(f"errors must be (images,) or (seeds, images), got shape {matrix.shape}")
    return matrix


def _seed_weights(rng: np.random.Generator, seeds: int, draws: int) -> np.ndarray:
    """(draws, seeds) weights summing to 1 per row: how often each seed was picked in a resample, over seeds."""
    picks = rng.integers(0, seeds, (draws, seeds))
    counts = (picks[:, :, None] == np.arange(seeds)).sum(axis=1)
    return counts / seeds


def _image_counts(rng: np.random.Generator, images: int, draws: int) -> np.ndarray:
    """(draws, images) multiplicities of each image in a resample with replacement.

    Counting instead of indexing lets one product give every seed's mean error under every draw."""
    picks = rng.integers(0, images, (draws, images)) + images * np.arange(draws)[:, None]
    return np.bincount(picks.ravel(), minlength=draws * images).reshape(draws, images).astype(np.float64)


def _inflation(seeds: int) -> float:
    """Factor that makes the bootstrap spread of a mean over `seeds` seeds match the unbiased (n - 1) estimate.

    Resampling k values with replacement gives their mean a variance (k - 1) / k times the textbook s^2 / k: with 3
    seeds that is 2/3: an interval 18% too narrow before any other correction. One seed has no spread to inflate."""
    return float(np.sqrt(seeds / (seeds - 1))) if seeds > 1 else 1.0


def _side_means(per_seed: np.ndarray, weights: np.ndarray, inflate: bool) -> np.ndarray:
    """(draws,) bootstrap mean error of one side from each seed's mean under the draw's image resample."""
    centre = per_seed.mean(axis=1)
    factor = _inflation(per_seed.shape[1]) if inflate else 1.0
    return centre + factor * ((per_seed * weights).sum(axis=1) - centre)


def _draw_differences(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, draws: int, paired_seeds: bool,
                      small_sample: bool) -> np.ndarray:
    """`draws` bootstrap replicates of mean(b) - mean(a): seeds resampled per side, then images shared by both."""
    images = a.shape[1]
    weights_a = _seed_weights(rng, len(a), draws)
    # Paired seeds: seed k of both sides saw the same data order and init, so they are resampled together.
    weights_b = weights_a if paired_seeds else _seed_weights(rng, len(b), draws)
    counts = _image_counts(rng, images, draws)
    # Mean error of every seed under every image resample: (draws, seeds). einsum rather than `@`: the product is
    # small and thin, and multithreaded BLAS spinning on a shared CPU made it 3x slower; the sums are of integers, so
    # exact either way.
    per_seed_a = np.einsum("di,si->ds", counts, a) / images
    per_seed_b = np.einsum("di,si->ds", counts, b) / images
    return _side_means(per_seed_b, weights_b, small_sample) - _side_means(per_seed_a, weights_a, small_sample)


def _seed_degrees_of_freedom(a: np.ndarray, b: np.ndarray, paired_seeds: bool) -> float:
    """Degrees of freedom of the seed-level noise in the effect: Welch-Satterthwaite on per-seed mean errors.

    Paired seeds give k - 1 (one difference per pair). No seed spread at all (one seed a side, or identical
    seeds) gives infinity: there is nothing uncertain to widen for."""
    if paired_seeds:
        return float(len(a) - 1) if len(a) > 1 else np.inf
    if min(len(a), len(b)) < 2:
        return np.inf
    va, vb = (m.mean(axis=1).var(ddof=1) / len(m) for m in (a, b))
    denominator = va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)
    return float((va + vb) ** 2 / denominator) if denominator > 0 else np.inf


def _t_widening(dof: float, level: float) -> float:
    """Student-t over normal quantile: the percentile interval is a normal-theory one, but its seed-level spread
    is estimated from a handful of seeds, and with 3 + 3 seeds (4 dof) that alone lets ~12% of A/A effects out."""
    upper = 1 - (1 - level) / 2
    return 1.0 if np.isinf(dof) else float(stats.t.ppf(upper, dof) / stats.norm.ppf(upper))


def hierarchical_bootstrap(errors_a: np.ndarray, errors_b: np.ndarray, samples: int = 2000, seed: int = 0,
                           level: float = LEVEL, paired_seeds: bool = False, small_sample: bool = True) -> Effect:
    """Difference in error rate, b - a, with a percentile interval from a two-level bootstrap.

    errors_*: 0/1 arrays, (images,) for one net or (seeds, images) for several; both sides on the same images in the
    same order. Each draw resamples seeds with replacement on each side, then images with replacement, the same
    images for every seed on both sides (the images are shared, so their difficulty cancels in the difference).
    paired_seeds: resample seed indices jointly, for when seed k of a and of b share data order and init. With
    unequal seed counts there is no pairing to use and the sides are resampled independently: that ignores the
    shared seed noise, so the interval can only get wider (the safe side) when a run is missing on one side.
    small_sample: (default on; off only to measure what it buys) scale the seed-level resampling up by
    sqrt(k / (k - 1)) and stretch the percentile interval about the point by t(dof) / z, dof from Welch-Satterthwaite
    on the per-seed error rates (k - 1 with paired seeds). With one seed a side there is nothing to correct and
    the interval covers image noise only, which is why ``verdict`` will not use it."""
    a, b = _as_seed_matrix(errors_a), _as_seed_matrix(errors_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the bootstrap pairs images, so both sides need the same images "
                         f"({a.shape[1]} images vs {b.shape[1]})")
    if samples < 1:
        raise ValueError(f"samples must be positive, got {samples}")
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // a.shape[1])
    paired = paired_seeds and len(a) == len(b)
    draws = np.concatenate([_draw_differences(a, b, rng, min(chunk, samples - start), paired, small_sample)
                            for start in range(0, samples, chunk)])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    point = b.mean() - a.mean()
    if small_sample:
        # Widen about the point estimate, keeping any skew the bootstrap found.
        widen = _t_widening(_seed_degrees_of_freedom(a, b, paired), level)
        low, high = point - widen * (point - low), point + widen * (high - point)
    return Effect(float(point), float(low), float(high), len(a), len(b))


def verdict(effect: Effect, paper_sign: int | None, min_seeds: int = MIN_SEEDS) -> str:
    """Does our interval agree with the direction the paper reports (+1: removing the feature raises the error)?

    Fewer than `min_seeds` seeds on either side give no verdict whatever the interval: with one seed the interval
    cannot contain seed noise, and with two its estimate of seed noise is too rough to lean on."""
    if paper_sign is None:
        return "no number in the paper"
    fewest = min(effect.seeds_a, effect.seeds_b)
    if fewest < min_seeds:
        return f"inconclusive ({fewest} seed{'' if fewest == 1 else 's'})"
    if effect.low > 0:
        return "agrees" if paper_sign > 0 else "contradicts"
    if effect.high < 0:
        return "contradicts" if paper_sign > 0 else "agrees"
    return "inconclusive"
