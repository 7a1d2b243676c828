"""minival: a held-out part of the training split that every decision during training reads (best.ckpt, the
plateau schedule), so the validation images are scored once, by evaluate, and nothing is chosen on them.

The paper steered its schedule by validation error (section 5); a reproduction that reports validation error
must not. The rule is fixed and seed-free: in each class, the `per_class` images whose names hash lowest
(sha256). ILSVRC: 10 per class, 10,000 images; the same rule on every dataset."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def _rank(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def split(names: Sequence[str], labels: Sequence[int], per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, minival) indices into the training split, each sorted; every class keeps at least one training
    image, so a class with per_class images or fewer gives all but one."""
    labels = np.asarray(labels)
    held = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        ranked = sorted(members, key=lambda i: _rank(names[i]))
        held.extend(ranked[: min(per_class, len(members) - 1)])
    minival = np.sort(np.asarray(held, dtype=np.int64))
    train = np.setdiff1d(np.arange(len(labels)), minival)
    return train, minival
