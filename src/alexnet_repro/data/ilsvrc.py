"""Ingest: official ILSVRC-2012 tarballs (or the generated ones), an ImageFolder tree or Imagenette
-> one unpacked, verified tree that the resize stage reads:

  <raw>/classes.json          [{"wnid", "words"}] in label order (sorted wnids, as torchvision's ImageNet)
  <raw>/train/<wnid>/*.JPEG
  <raw>/val/<wnid>/*.JPEG
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from scipy.io import loadmat
from tqdm import tqdm

from alexnet_repro.atomic import atomic_dir
from alexnet_repro.data.safe_tar import extract_to, iter_files

CLASSES = "classes.json"
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def parse_devkit(devkit_tar: Path) -> tuple[dict[int, str], dict[str, str], list[int]]:
    """ILSVRC2012_ID -> wnid, wnid -> words, and the validation labels (IDs, file order). Same logic as
    torchvision's parse_devkit_archive, which cannot be called on an archive other than the official one."""
    with tempfile.TemporaryDirectory() as tmp:
        extract_to(devkit_tar, Path(tmp))
        data = Path(tmp) / "ILSVRC2012_devkit_t12" / "data"
        if not (data / "meta.mat").exists():
            raise FileNotFoundError(f"{devkit_tar} holds no ILSVRC2012_devkit_t12/data/meta.mat")
        synsets = loadmat(data / "meta.mat", squeeze_me=True)["synsets"]
        synsets = np.atleast_1d(synsets)
        leaves = [s for s in synsets if int(s["num_children"]) == 0]
        id_to_wnid = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in leaves}
        words = {str(s["WNID"]): str(s["words"]) for s in leaves}
        truth = [int(line) for line in (data / "ILSVRC2012_validation_ground_truth.txt").read_text().split()]
    return id_to_wnid, words, truth


def _write_classes(root: Path, words: dict[str, str]) -> None:
    wnids = sorted(words)
    (root / CLASSES).write_text(json.dumps([{"wnid": w, "words": words[w]} for w in wnids], indent=1))


def _save(fh, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as f:
        shutil.copyfileobj(fh, f)


def ingest_ilsvrc(train_tar: Path, val_tar: Path, devkit_tar: Path, raw_dir: Path, progress: bool = True) -> Path:
    """Unpack the three official archives into raw_dir, built under a temporary name and renamed at the end."""
    id_to_wnid, words, truth = parse_devkit(devkit_tar)
    with atomic_dir(raw_dir) as tmp:
        for name, inner in tqdm(iter_files(train_tar), desc=f"unpack {train_tar.name}", unit="class",
                                disable=not progress):
            wnid = name.stem
            if wnid not in words:
                raise ValueError(f"{train_tar}: {name} is not a class of the devkit's meta.mat")
            # one class's tar in memory at a time (at most ~150 MB for ImageNet): memory stays bounded
            for image_name, fh in iter_files(f"{train_tar}:{name}", fileobj=inner):
                _save(fh, tmp / "train" / wnid / image_name.name)
        val_files = 0
        for name, fh in tqdm(iter_files(val_tar), desc=f"unpack {val_tar.name}", unit="img", disable=not progress):
            number = int(name.stem.rsplit("_", 1)[-1])  # ILSVRC2012_val_00000001 -> 1
            if not 1 <= number <= len(truth):
                raise ValueError(f"{val_tar}: {name} has no label in the devkit's ground truth")
            _save(fh, tmp / "val" / id_to_wnid[truth[number - 1]] / name.name)
            val_files += 1
        if val_files != len(truth):
            raise ValueError(f"{val_tar} holds {val_files} images but the devkit labels {len(truth)}")
        _write_classes(tmp, words)
    return raw_dir


def ingest_imagefolder(root: Path, raw_dir: Path, words: dict[str, str] | None = None) -> Path:
    """An existing train/<wnid>/*.JPEG, val/<wnid>/*.JPEG tree (Imagenette's layout too), copied as-is."""
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise FileNotFoundError(f"{root / split} is missing: an ImageFolder source needs train/ and val/")
    wnids = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    with atomic_dir(raw_dir) as tmp:
        for split in ("train", "val"):
            for wnid_dir in sorted((root / split).iterdir()):
                if wnid_dir.name not in wnids:
                    raise ValueError(f"{wnid_dir} is a class that train/ does not have")
                for f in sorted(wnid_dir.iterdir()):
                    if f.suffix.lower() in IMAGE_SUFFIXES:
                        (tmp / split / wnid_dir.name).mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(f, tmp / split / wnid_dir.name / f.name)
        _write_classes(tmp, {w: (words or {}).get(w, w) for w in wnids})
    return raw_dir


def read_classes(raw_dir: Path) -> list[dict]:
    path = Path(raw_dir) / CLASSES
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the download stage first (`dvc repro download`)")
    return json.loads(path.read_text())
