"""The PCA stage's statistics file: what training needs for mean subtraction and PCA lighting."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MEAN_IMAGE_FILE = "mean_image.npy"


@dataclass(frozen=True)
class PixelStats:
    """RGB statistics of the training set, pixels scaled to [0, 1] (section 4.1)."""

    mean_rgb: np.ndarray  # (3,)
    mean_image: np.ndarray  # (256, 256, 3) float32, the per-pixel mean of section 2
    eigenvalues: np.ndarray  # (3,), descending
    eigenvectors: np.ndarray  # (3, 3), column i is p_i

    @classmethod
    def load(cls, json_path: str | Path) -> PixelStats:
        json_path = Path(json_path)
        if not json_path.exists():
            raise FileNotFoundError(f"{json_path} does not exist: run the pca stage first (`dvc repro pca`)")
        meta = json.loads(json_path.read_text())
        mean_image = np.load(json_path.parent / meta["mean_image_file"]).astype(np.float32)
        return cls(
            np.asarray(meta["mean_rgb"], np.float32),
            mean_image,
            np.asarray(meta["eigenvalues"], np.float32),
            np.asarray(meta["eigenvectors"], np.float32),
        )
