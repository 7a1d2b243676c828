"""ILSVRC-2010, the data of the paper's Table 1 and the only ILSVRC year whose test labels are public, indexed
in place like 2012 (data/ilsvrc.py writes the same classes.json and archives.json, plus a `test` section).

The layout, from the devkit's own readme (devkit-1.0/readme.txt) and its data/meta.mat, read in a public copy
of the devkit (github.com/abhishek4747/imagenet2010-devkit), and from two readers of the real archives (Fuel's
fuel/converters/ilsvrc2010.py, a TFDS `imagenet2010` builder); docs/paper.md says more:

  ILSVRC2010_images_train.tar     one <wnid>.tar per class, holding <wnid>_<n>.JPEG (n neither fixed-width nor
                                  consecutive); 1,261,406 images, 668 to 3047 per class
  ILSVRC2010_images_val.tar       val/ILSVRC2010_val_00000001.JPEG ... 50,000 images, 50 per class
  ILSVRC2010_images_test.tar      test/ILSVRC2010_test_00000001.JPEG ... 150,000 images, 150 per class
  ILSVRC2010_devkit-1.0.tar.gz    devkit-1.0/data/meta.mat: `synsets`, 1676 entries sorted by ILSVRC2010_ID, the
                                  1000 classes (num_children 0) with IDs 1..1000, then 676 ancestors (IDs above
                                  1000); devkit-1.0/data/ILSVRC2010_validation_ground_truth.txt
  ILSVRC2010_test_ground_truth.txt  published on its own after the challenge, not in the devkit: the user puts
                                  it beside the archives (data.source.location)

Each ground-truth file holds one ILSVRC2010_ID per line, "in the ascending alphabetical order of the image
file names" (the readme), which need not be the order of the tar's members. The IDs are 2010's own: neither
they nor the class list equal 2012's, so labels go through this devkit's meta.mat, never a 2012 table.
"""

from __future__ import annotations

import io
import json
import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
from scipy.io import loadmat

from alexnet_repro.atomic import atomic_dir
from alexnet_repro.data.ilsvrc import ARCHIVES, _identity, _regular_members, _write_classes, train_classes

# The five files the download stage fetches (data/download.py), by role.
FILES = {"train": "ILSVRC2010_images_train.tar", "val": "ILSVRC2010_images_val.tar",
         "test": "ILSVRC2010_images_test.tar", "devkit": "ILSVRC2010_devkit-1.0.tar.gz",
         "test_truth": "ILSVRC2010_test_ground_truth.txt"}
DEVKIT_DATA = "devkit-1.0/data"
VAL_TRUTH = "ILSVRC2010_validation_ground_truth.txt"


def read_truth(text: str, source: str, id_to_wnid: dict[int, str]) -> list[str]:
    """A ground-truth file's text -> the wnid of each line; a line that is not a class's ILSVRC2010_ID is one
    error naming the file (source) and the line (a 2012 file, or another devkit's, fails here)."""
    wnids = []
    for number, line in enumerate(text.splitlines(), start=1):
        token = line.strip()
        if not token:
            continue
        if not token.isdigit() or int(token) not in id_to_wnid:
            raise ValueError(f"{source}: line {number} ({token!r}) is not the ILSVRC2010_ID of a class in the "
                             "devkit's meta.mat")
        wnids.append(id_to_wnid[int(token)])
    return wnids


def _devkit_files(devkit_tar: Path) -> dict[str, bytes]:
    """meta.mat and the validation ground truth, read from the devkit without unpacking the rest of it (its
    demo binaries and feature code); keyed by their path under devkit-1.0/data/."""
    wanted, found = {f"{DEVKIT_DATA}/meta.mat", f"{DEVKIT_DATA}/{VAL_TRUTH}"}, {}
    try:
        with tarfile.open(devkit_tar, mode="r:*") as tar:
            for member in tar:
                name = str(PurePosixPath(member.name))  # "./devkit-1.0/..." -> "devkit-1.0/..."
                if name in wanted and member.isfile():
                    found[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise tarfile.ReadError(f"{devkit_tar} is truncated or not a tar archive ({err})") from None
    if missing := sorted(wanted - set(found)):
        raise FileNotFoundError(f"{devkit_tar} holds no {missing[0]}: not the ILSVRC-2010 devkit ({FILES['devkit']})")
    return found


def parse_devkit(devkit_tar: Path) -> tuple[dict[int, str], dict[str, str], list[str]]:
    """ILSVRC2010_ID -> wnid and wnid -> words for the 1000 classes (leaves), and the validation labels."""
    files = _devkit_files(devkit_tar)
    synsets = np.atleast_1d(loadmat(io.BytesIO(files[f"{DEVKIT_DATA}/meta.mat"]), squeeze_me=True)["synsets"])
    if "ILSVRC2010_ID" not in (synsets.dtype.names or ()):
        raise ValueError(f"{devkit_tar}: {DEVKIT_DATA}/meta.mat has no ILSVRC2010_ID field (another year's "
                         "devkit?)")
    leaves = [s for s in synsets if int(s["num_children"]) == 0]  # the ancestors are never labels
    id_to_wnid = {int(s["ILSVRC2010_ID"]): str(s["WNID"]) for s in leaves}
    words = {str(s["WNID"]): str(s["words"]) for s in leaves}
    truth = read_truth(files[f"{DEVKIT_DATA}/{VAL_TRUTH}"].decode(), f"{devkit_tar}:{DEVKIT_DATA}/{VAL_TRUTH}",
                       id_to_wnid)
    return id_to_wnid, words, truth


def labelled_images(archive: Path, truth: list[str], truth_file: str, progress: bool) -> list[dict]:
    """Every image of a val or test archive with its wnid: the ground truth's lines follow the file names
    sorted, not the members' order in the tar."""
    members = sorted(_regular_members(archive, progress, "img"), key=lambda m: m[0].name)
    if len(members) != len(truth):
        raise ValueError(f"{truth_file} labels {len(truth):,} images but {archive} holds {len(members):,}: "
                         "not the ground truth of this archive")
    return [{"name": name.name, "wnid": wnid, "offset": member.offset_data, "size": member.size}
            for (name, member), wnid in zip(members, truth)]


def index_ilsvrc2010(paths: dict[str, Path], raw_dir: Path, progress: bool = True) -> Path:
    """classes.json and archives.json in raw_dir from the five files of FILES (keys as there)."""
    id_to_wnid, words, val_truth = parse_devkit(paths["devkit"])
    test_truth = read_truth(Path(paths["test_truth"]).read_text(), str(paths["test_truth"]), id_to_wnid)
    train = train_classes(paths["train"], words, progress)
    val = labelled_images(paths["val"], val_truth, f"{paths['devkit']}:{DEVKIT_DATA}/{VAL_TRUTH}", progress)
    test = labelled_images(paths["test"], test_truth, str(paths["test_truth"]), progress)
    with atomic_dir(raw_dir) as tmp:
        _write_classes(tmp, words, where=f"{paths['devkit']}'s class list")
        index = {"format": 1, "train": {"archive": _identity(paths["train"]), "classes": train},
                 "val": {"archive": _identity(paths["val"]), "images": val},
                 "test": {"archive": _identity(paths["test"]), "images": test}}
        (tmp / ARCHIVES).write_text(json.dumps(index))
    return raw_dir
