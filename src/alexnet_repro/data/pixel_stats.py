"""The PCA stage's statistics file: what training needs for mean subtraction and PCA lighting. Written and read
here only (write, PixelStats.load), with a version: a reader refuses another version or a missing key in one
line naming the file and the stage that writes it again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alexnet_repro.atomic import atomic_path, write_json
from alexnet_repro.checked_json import read_checked

MEAN_IMAGE_FILE = "mean_image.npy"
VERSION = 1
KEYS = ("version", "mean_rgb", "eigenvalues", "eigenvectors", "mean_image_file")
PCA_AGAIN = "re-run the pca stage (`dvc repro pca`)"


class StatsError(ValueError):
    pass


def write(stats: dict, mean_image: np.ndarray, json_path: str | Path) -> None:
    """stats: pca.pixel_statistics' dict; mean_image: (256, 256, 3) float32, saved beside it."""
    json_path = Path(json_path)
    with atomic_path(json_path.parent / MEAN_IMAGE_FILE) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, mean_image)
    write_json(json_path, {"version": VERSION, **stats, "mean_image_file": MEAN_IMAGE_FILE})  # last: both whole


def _read(json_path: Path) -> dict:
    if not json_path.exists():
        raise FileNotFoundError(f"{json_path} does not exist: run the pca stage first (`dvc repro pca`)")
    meta = read_checked(json_path, KEYS, StatsError, PCA_AGAIN)
    if meta["version"] != VERSION:
        raise StatsError(f"{json_path} has version {meta['version']!r}, this code reads {VERSION}: {PCA_AGAIN}")
    return meta


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
        meta = _read(json_path)
        image_path = json_path.parent / meta["mean_image_file"]
        try:
            mean_image = np.load(image_path).astype(np.float32)
        except (OSError, ValueError) as err:  # missing, cut short, not an .npy
            raise StatsError(f"{image_path} cannot be read ({err}): {PCA_AGAIN}") from None
        shapes = {"mean_rgb": (3,), "eigenvalues": (3,), "eigenvectors": (3, 3)}
        arrays = {k: np.asarray(meta[k], np.float32) for k in shapes}
        for key, shape in shapes.items():
            if arrays[key].shape != shape:
                raise StatsError(f"{json_path}: {key} has shape {arrays[key].shape}, not {shape}: {PCA_AGAIN}")
        return cls(arrays["mean_rgb"], mean_image, arrays["eigenvalues"], arrays["eigenvectors"])
