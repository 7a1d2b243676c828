"""The generated images of data/generate.py written in the official ILSVRC-2010 layout (data/ilsvrc2010.py
describes it), so that the 2010 reader is tested on archives shaped like the real ones:

  ILSVRC2010_images_train.tar     <wnid>.tar per class, holding <wnid>_<n>.JPEG, n not consecutive
  ILSVRC2010_images_val.tar       val/ILSVRC2010_val_<8 digits>.JPEG, members NOT in name order
  ILSVRC2010_images_test.tar      test/ILSVRC2010_test_<8 digits>.JPEG, members NOT in name order
  ILSVRC2010_devkit-1.0.tar.gz    devkit-1.0/data/meta.mat (synsets with ILSVRC2010_ID, classes then one
                                  ancestor, cost_matrix), devkit-1.0/data/ILSVRC2010_validation_ground_truth.txt
  ILSVRC2010_test_ground_truth.txt

The traps of the real files are kept, each one a way a reader could go wrong: the ground truth follows the sorted
file names, not the tar's order; the classes' ILSVRC2010_IDs do not follow their wnids' order; meta.mat lists an
ancestor synset that is no class; one training JPEG is gzipped under its .JPEG name. Small sets only (tests):
images are rendered in this process.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import savemat

from alexnet_repro.atomic import atomic_path
from alexnet_repro.data.generate import GeneratedSpec, _quirk, _tar_bytes, class_words, encode, render, wnid
from alexnet_repro.data.ilsvrc2010 import DEVKIT_DATA, FILES, VAL_TRUTH


def class_id(c: int, classes: int) -> int:
    """ILSVRC2010_ID of class c: 1..classes, in the reverse of the wnid order, so a reader that assumed the IDs
    follow the sorted wnids would mislabel every image."""
    return classes - c


def _meta_mat(spec: GeneratedSpec) -> bytes:
    """meta.mat as in devkit-1.0: `synsets` sorted by ILSVRC2010_ID (the classes, then an ancestor, ID above
    them, with children), the fields in the real file's order, and the classes' `cost_matrix`."""
    dtype = [("ILSVRC2010_ID", "O"), ("WNID", "O"), ("words", "O"), ("gloss", "O"), ("num_children", "O"),
             ("children", "O"), ("wordnet_height", "O"), ("num_train_images", "O")]
    n = spec.classes
    synsets = np.zeros((n + 1, 1), dtype=dtype)
    by_id = sorted(range(n), key=lambda c: class_id(c, n))
    for row, c in enumerate(by_id):
        synsets[row, 0] = (class_id(c, n), wnid(c), class_words(c), "generated image class, not ImageNet", 0,
                           np.zeros(0, np.uint8), 0, spec.train_per_class)
    synsets[n, 0] = (n + 1, "n98000000", "generated entity", "the root: no class, no images", n,
                     np.arange(1, n + 1, dtype=np.uint16), 1, 0)
    buf = io.BytesIO()
    savemat(buf, {"synsets": synsets, "cost_matrix": 1.0 - np.eye(n)})
    data = bytearray(buf.getvalue())
    data[:116] = b"MATLAB 5.0 MAT-file, alexnet-repro generated devkit-1.0 (not ImageNet)".ljust(116)  # no date
    return bytes(data)


def _image(c: int, rng: np.random.Generator, number: int, quality: int, gzipped: bool = False) -> bytes:
    if gzipped:  # as the real train set's n02487347_1956.JPEG
        return gzip.compress(encode(render(c, rng), "rgb", quality), mtime=0)
    kind = _quirk(number)
    return encode(render(c, rng), "rgb" if kind == "png" else kind, quality)  # no PNG in 2010 (TFDS's scan)


def _flat_set(items: list[tuple[int, bytes]], folder: str, prefix: str, seed: int, classes: int,
              answers: dict[str, int]) -> tuple[bytes, bytes]:
    """(tar of folder/<prefix>_<8 digits>.JPEG written in a shuffled member order, ground truth in name order);
    answers gets each file name's class."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(items))  # which image gets number k + 1
    named = [(f"{prefix}_{k + 1:08d}.JPEG", items[j]) for k, j in enumerate(order)]
    answers.update((name, c) for name, (c, _) in named)
    truth = "".join(f"{class_id(c, classes)}\n" for _, (c, _) in named).encode()  # named is in name order
    members = [(f"{folder}/{name}", data) for name, (_, data) in named]
    shuffled = [members[i] for i in rng.permutation(len(members))]
    return _tar_bytes(shuffled), truth


@dataclass(frozen=True)
class Generated2010:
    paths: dict[str, Path]  # the five files, keyed as data/ilsvrc2010.py's FILES
    answers: dict[str, int]  # val and test file name -> its class (the generator's own record, for tests)


def generate_2010(out_dir: str | Path, spec: GeneratedSpec | None = None, test_per_class: int = 2) -> Generated2010:
    """Write the five ILSVRC-2010 files into out_dir."""
    spec = spec or GeneratedSpec()
    out, n = Path(out_dir), spec.classes
    seeds = np.random.SeedSequence(spec.seed).spawn(n)
    inner, val, test, number = [], [], [], 0
    for c in range(n):
        rng = np.random.default_rng(seeds[c])
        files = []
        for i in range(spec.train_per_class):
            gzipped = c == 0 and i == 0
            files.append((f"{wnid(c)}_{3 * i + 2}.JPEG", _image(c, rng, number, spec.quality, gzipped)))
            number += 1
        inner.append((f"{wnid(c)}.tar", _tar_bytes(files)))
        for split, count in ((val, spec.val_per_class), (test, test_per_class)):
            for _ in range(count):
                split.append((c, _image(c, rng, number, spec.quality)))
                number += 1
    answers: dict[str, int] = {}
    val_tar, val_truth = _flat_set(val, "val", "ILSVRC2010_val", spec.seed + 1, n, answers)
    test_tar, test_truth = _flat_set(test, "test", "ILSVRC2010_test", spec.seed + 2, n, answers)
    devkit = _tar_bytes([(f"{DEVKIT_DATA}/meta.mat", _meta_mat(spec)), (f"{DEVKIT_DATA}/{VAL_TRUTH}", val_truth),
                         ("devkit-1.0/readme.txt", b"Generated in the ILSVRC2010 devkit-1.0 layout; not ImageNet.\n")])
    contents = {"train": _tar_bytes(inner), "val": val_tar, "test": test_tar,
                "devkit": gzip.compress(devkit, mtime=0), "test_truth": test_truth}
    paths = {key: out / FILES[key] for key in FILES}
    out.mkdir(parents=True, exist_ok=True)
    for key, data in contents.items():
        with atomic_path(paths[key]) as tmp:
            tmp.write_bytes(data)
    return Generated2010(paths, answers)
