"""Ingest: official ILSVRC-2012 tarballs (or the generated ones), an ImageFolder tree or Imagenette
-> a raw folder that the resize stage reads. The ILSVRC archives are never unpacked (1.28 M files, 138 GB
more on disk): they are indexed where they lie, and resize streams their members.

  <raw>/classes.json          [{"wnid", "words"}] in label order (sorted wnids, as torchvision's ImageNet)
  <raw>/archives.json         ILSVRC only: where each class's inner tar and each validation (and, for
                              ILSVRC-2010, test) image lie in the archives (byte offset, size), and the
                              archives' size and mtime
  <raw>/train/<wnid>/*.JPEG   ImageFolder and Imagenette only: the unpacked, checked tree
  <raw>/val/<wnid>/*.JPEG
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from scipy.io import loadmat
from tqdm import tqdm

from alexnet_repro.atomic import atomic_dir
from alexnet_repro.data.safe_tar import check_member, extract_to

CLASSES = "classes.json"
ARCHIVES = "archives.json"
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
MIN_CLASSES = 2  # one class trains nothing, and fails only at training, inside torchmetrics (num_classes > 1)
SPLITS = ("train", "val", "test")  # archives.json's sections; "test" only for ILSVRC-2010 (data/ilsvrc2010.py)


def parse_devkit(devkit_tar: Path) -> tuple[dict[int, str], dict[str, str], list[int]]:
    """ILSVRC2012_ID -> wnid, wnid -> words, and the validation labels (IDs, file order). Same logic as
    torchvision's parse_devkit_archive, which cannot be called on an archive other than the official one."""
    with tempfile.TemporaryDirectory() as tmp:
        extract_to(devkit_tar, Path(tmp))
        data = Path(tmp) / "ILSVRC2012_devkit_t12" / "data"
        if not (data / "meta.mat").exists():
            raise FileNotFoundError(f"{devkit_tar} holds no ILSVRC2012_devkit_t12/data/meta.mat")
        id_to_wnid, words = _leaf_synsets(data / "meta.mat", devkit_tar)
        truth = [int(line) for line in (data / "ILSVRC2012_validation_ground_truth.txt").read_text().split()]
    return id_to_wnid, words, truth


def _leaf_synsets(meta: Path, devkit_tar: Path) -> tuple[dict[int, str], dict[str, str]]:
    """The 1000 classes of meta.mat's `synsets`, read by field position (ILSVRC2012_ID, WNID, words, gloss,
    num_children, ...) as torchvision's parse_meta_mat does: the official struct array and a cell array of rows
    (torchvision's own test mock saves one) read alike."""
    try:
        synsets = np.atleast_1d(loadmat(meta, squeeze_me=True)["synsets"])
        leaves = [row for row in synsets if int(tuple(row)[4]) == 0]
        id_to_wnid = {int(tuple(row)[0]): str(tuple(row)[1]) for row in leaves}
        words = {str(tuple(row)[1]): str(tuple(row)[2]) for row in leaves}
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise ValueError(f"{devkit_tar}: its data/meta.mat holds no readable `synsets` (ILSVRC2012_ID, WNID, words, "
                         f"gloss, num_children, ...): {' '.join(str(err).split())}") from None
    return id_to_wnid, words


def check_class_count(wnids: list[str], where: str | Path) -> None:
    """Refuse a dataset of fewer than two classes here, at the download stage: resize and pca would take it,
    and the first sign would come at training."""
    if len(wnids) < MIN_CLASSES:
        held = f"only one class ({wnids[0]})" if wnids else "no class"
        raise ValueError(f"{where} holds {held}: a classifier needs at least {MIN_CLASSES} classes")


def _write_classes(root: Path, words: dict[str, str], where: str | Path = "the devkit's class list") -> None:
    wnids = sorted(words)
    check_class_count(wnids, where)
    (root / CLASSES).write_text(json.dumps([{"wnid": w, "words": words[w]} for w in wnids], indent=1))


def _regular_members(archive: Path, progress: bool, unit: str):
    """The archive's regular files, headers only (tarfile seeks over the data), checked like extraction is,
    each within the file: a truncated archive fails here, naming itself."""
    size = archive.stat().st_size
    try:
        with tarfile.open(archive, mode="r:") as tar:
            for member in tqdm(tar, desc=f"index {archive.name}", unit=unit, disable=not progress):
                name = check_member(archive, member)
                if member.isdir():
                    continue
                if member.offset_data + member.size > size:
                    raise tarfile.ReadError(f"{member.name} ends past the end of the file")
                yield name, member
    except (tarfile.ReadError, EOFError) as err:
        raise tarfile.ReadError(f"{archive} is truncated or not an uncompressed tar archive ({err})") from None


def _identity(archive: Path) -> dict:
    stat = archive.stat()
    return {"path": str(archive.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def index_ilsvrc(train_tar: Path, val_tar: Path, devkit_tar: Path, raw_dir: Path, progress: bool = True) -> Path:
    """classes.json and archives.json in raw_dir: the byte range of every class's inner tar in the train
    archive and of every validation image in the val archive, with its class from the devkit."""
    id_to_wnid, words, truth = parse_devkit(devkit_tar)
    check_class_count(sorted(words), f"{devkit_tar}'s data/meta.mat")  # before reading the 138 GB train tar
    train = train_classes(train_tar, words, progress)
    val = []
    for name, member in _regular_members(val_tar, progress, "img"):
        try:
            number = int(name.stem.rsplit("_", 1)[-1])  # ILSVRC2012_val_00000001 -> 1
        except ValueError:
            number = 0
        if not 1 <= number <= len(truth):
            raise ValueError(f"{val_tar}: {member.name} has no label in the devkit's ground truth")
        val.append({"name": name.name, "wnid": id_to_wnid[truth[number - 1]], "offset": member.offset_data,
                    "size": member.size})
    if len(val) != len(truth):
        raise ValueError(f"{val_tar} holds {len(val)} images but the devkit labels {len(truth)}")
    with atomic_dir(raw_dir) as tmp:
        _write_classes(tmp, words)
        index = {"format": 1, "train": {"archive": _identity(train_tar), "classes": train},
                 "val": {"archive": _identity(val_tar), "images": val}}
        (tmp / ARCHIVES).write_text(json.dumps(index))
    return raw_dir


def train_classes(train_tar: Path, words: dict[str, str], progress: bool) -> list[dict]:
    """The byte range of every class's inner <wnid>.tar in a train archive (2012 and 2010 alike), by wnid."""
    train = []
    for name, member in _regular_members(train_tar, progress, "class"):
        if name.suffix != ".tar" or name.stem not in words:
            raise ValueError(f"{train_tar}: {member.name} is not a <wnid>.tar of a class in the devkit's meta.mat")
        train.append({"wnid": name.stem, "offset": member.offset_data, "size": member.size})
    return sorted(train, key=_wnid)


def _wnid(entry: dict) -> str:
    return entry["wnid"]


def read_archive_index(raw_dir: Path) -> dict | None:
    """archives.json, or None for an unpacked (ImageFolder) raw folder; stale when an archive changed."""
    path = Path(raw_dir) / ARCHIVES
    if not path.exists():
        return None
    index = json.loads(path.read_text())
    for split in SPLITS:
        if split not in index:  # a test split only where the source has one (ILSVRC-2010)
            continue
        known = index[split]["archive"]
        archive = Path(known["path"])
        if not archive.exists() or _identity(archive) != known:
            raise FileNotFoundError(f"{archive} is missing or changed since {path} indexed it: run the download "
                                    "stage again (`dvc repro download`)")
    return index


def _visible(folder: Path) -> list[Path]:
    """A folder's entries less hidden ones (.DS_Store, ._* AppleDouble files, .ipynb_checkpoints), sorted."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def ingest_imagefolder(root: Path, raw_dir: Path, words: dict[str, str] | None = None) -> Path:
    """An existing train/<wnid>/*.JPEG, val/<wnid>/*.JPEG tree (Imagenette's layout too), copied as-is."""
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise FileNotFoundError(f"{root / split} is missing: an ImageFolder source needs train/ and val/")
    wnids = [p.name for p in _visible(root / "train") if p.is_dir()]
    check_class_count(wnids, root / "train")  # before copying a single image
    with atomic_dir(raw_dir) as tmp:
        for split in ("train", "val"):
            for wnid_dir in _visible(root / split):
                if not wnid_dir.is_dir():
                    continue  # a stray file beside the class folders (README, a listing) is not a class
                if wnid_dir.name not in wnids:
                    raise ValueError(f"{wnid_dir} is a class that train/ does not have")
                images = [f for f in _visible(wnid_dir) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
                if split == "train" and not images:
                    raise ValueError(f"{wnid_dir} holds no images ({', '.join(IMAGE_SUFFIXES)}): a class needs "
                                     "training images; remove the folder or fill it")
                (tmp / split / wnid_dir.name).mkdir(parents=True, exist_ok=True)
                for f in images:
                    shutil.copyfile(f, tmp / split / wnid_dir.name / f.name)
        _write_classes(tmp, {w: (words or {}).get(w, w) for w in wnids})
    return raw_dir


def read_classes(raw_dir: Path) -> list[dict]:
    path = Path(raw_dir) / CLASSES
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the download stage first (`dvc repro download`)")
    return json.loads(path.read_text())
