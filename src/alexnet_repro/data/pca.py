"""Section 4.1's statistics: PCA of the RGB pixel values over the training set, plus the mean image.

Sums are exact at any scale: every per-image sum of uint8 products is an integer below 2**53, computed in
float64 (BLAS) and accumulated in int64. The covariance uses N-1 (numpy.cov's default). Pixels are scaled
to [0, 1]. Eigenvalues descend; each eigenvector is signed so that its largest-magnitude component is
positive.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from alexnet_repro.data import pixel_stats
from alexnet_repro.data.store import ShardReader
from alexnet_repro.workers import map_in_processes


def _partial_sums(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    folder, indices = args
    reader = ShardReader(folder, "train")
    side = reader.info.image_size  # 256; a CIFAR-10 store's 32
    image_sum = np.zeros((side, side, 3), np.int64)
    rgb_sum = np.zeros(3, np.int64)
    outer = np.zeros((3, 3), np.int64)
    for i in indices:
        x = reader.image(int(i), side)
        image_sum += x
        flat = x.reshape(-1, 3).astype(np.float64)
        rgb_sum += flat.sum(0).astype(np.int64)
        outer += np.rint(flat.T @ flat).astype(np.int64)
    return image_sum, rgb_sum, outer, len(indices)


def sign_fixed(vectors: np.ndarray) -> np.ndarray:
    """Columns flipped so that each one's largest-magnitude component is positive."""
    signs = np.sign(vectors[np.abs(vectors).argmax(0), np.arange(vectors.shape[1])])
    return vectors * np.where(signs == 0, 1, signs)


def pixel_statistics(store_dir: str | Path, max_images: int | None = None, seed: int = 0, workers: int = 2,
                     progress: bool = True) -> tuple[dict, np.ndarray]:
    reader = ShardReader(store_dir, "train")
    indices = np.arange(len(reader))
    if max_images is not None and max_images < len(indices):
        indices = np.sort(np.random.default_rng(seed).choice(indices, max_images, replace=False))
    chunks = [c for c in np.array_split(indices, max(1, workers * 8)) if len(c)]
    side = reader.info.image_size
    image_sum = np.zeros((side, side, 3), np.int64)
    rgb_sum = np.zeros(3, np.int64)
    outer = np.zeros((3, 3), np.int64)
    n_images = 0
    jobs = [(str(store_dir), c) for c in chunks]
    desc = "pca statistics"
    with tqdm(total=len(indices), desc=desc, unit="img", disable=not progress) as bar:
        # Unordered is exact: the partial sums are integers, so any order of adding them gives the same bits.
        for part_image, part_rgb, part_outer, n in map_in_processes(_partial_sums, jobs, workers, desc=desc):
            image_sum += part_image
            rgb_sum += part_rgb
            outer += part_outer
            n_images += n
            bar.update(n)
    pixels = n_images * side * side
    mean = rgb_sum / pixels  # [0, 255]
    cov = (outer - pixels * np.outer(mean, mean)) / (pixels - 1) / 255.0**2
    values, vectors = np.linalg.eigh(cov)
    order = values.argsort()[::-1]
    stats = {
        "pixel_scale": "[0, 1]",
        "num_images": int(n_images),
        "num_pixels": int(pixels),
        "mean_rgb": (mean / 255.0).tolist(),
        "covariance": cov.tolist(),
        "eigenvalues": values[order].tolist(),
        "eigenvectors": sign_fixed(vectors[:, order]).tolist(),
        "eigenvector_layout": "columns: eigenvectors[:, i] is p_i",
        "sign_rule": "largest-magnitude component of each eigenvector is positive",
    }
    return stats, (image_sum / n_images / 255.0).astype(np.float32)


def write_statistics(stats: dict, mean_image: np.ndarray, json_path: str | Path) -> None:
    """The stage's writer is pixel_stats.write, beside its reader (one module per file format)."""
    pixel_stats.write(stats, mean_image, json_path)
