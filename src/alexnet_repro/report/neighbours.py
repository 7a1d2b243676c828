"""Figure 4 as a number: how often are the training images nearest to a validation image in fc7 space
(Euclidean distance, as in the paper) of the validation image's class?"""

from __future__ import annotations

import numpy as np

_CHUNK = 256  # queries per distance block: 256 x 10,000 training images is 10 MB of float32


def nearest(train: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) indices into `train` of each query's k nearest rows by Euclidean distance, nearest first
    (ties to the lower index). train (N, D), queries (Q, D)."""
    t = np.asarray(train, dtype=np.float32)
    t_norms = (t.astype(np.float64) ** 2).sum(axis=1)
    k = min(k, len(t))
    out = []
    for start in range(0, len(queries), _CHUNK):
        q = np.asarray(queries[start:start + _CHUNK], dtype=np.float32)
        # |t - q|^2 without the (Q, N, D) difference; |q|^2 is the same for every row and does not change the order.
        dist = t_norms[None, :] - 2.0 * (q @ t.T).astype(np.float64)
        out.append(np.argsort(dist, axis=1, kind="stable")[:, :k])
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


def same_class_rate(near: np.ndarray, val_labels: np.ndarray, train_labels: np.ndarray) -> float:
    """Share of the nearest training images (near: nearest()'s indices for every validation image), over all
    of them, whose class is the query's."""
    return float((np.asarray(train_labels)[near] == np.asarray(val_labels)[:, None]).mean())


def chance_rate(val_labels: np.ndarray, train_labels: np.ndarray) -> float:
    """The same share for neighbours drawn at random from the training images: the mean, over validation images,
    of the training share of their class (1 / classes when the classes are balanced)."""
    classes, counts = np.unique(np.asarray(train_labels), return_counts=True)
    share = dict(zip(classes.tolist(), (counts / counts.sum()).tolist()))
    return float(np.mean([share.get(int(c), 0.0) for c in np.asarray(val_labels)]))
