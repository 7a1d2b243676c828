"""Figure 4 as numbers: how often the training images nearest to a validation image in fc7 space share its class,
beside two controls: the same rate in pixel space (raw pixels of the same images, read from the store), and a
chance level that counts palette twins. The generated dataset gives classes 2p and 2p+1 one colour palette
(data/generate.py), so a neighbour picked by colour alone lands on the query's class half the time it lands on
the right palette; on ILSVRC no classes are paired and chance is 1/classes. The thumbnails and the pixel control
need the store; without it they are skipped with the reason."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from alexnet_repro import results as R
from alexnet_repro.data.store import ShardReader
from alexnet_repro.report import neighbours
from alexnet_repro.report.numbers import Figure4

PIXEL_SIDE = 32  # raw pixels compared at 32x32 (the JPEG decoder's 1/8 scale of a 256 store): 3,072 numbers each


HUES = re.compile(r"hues (\d+/\d+)")  # a generated class's words name its palette (data/generate.py's class_words)


def palette_groups(result: R.ExperimentResult) -> np.ndarray | None:
    """(classes,) palette id per label for the generated data, read from the class words the result carries (the
    report does not run the generator's code); None for any other data."""
    if not result.dataset.startswith("embedded"):
        return None
    found = [HUES.search(c["words"]) for c in result.classes]
    if not all(found):
        return None
    hues = [m.group(1) for m in found]
    ids = {h: i for i, h in enumerate(dict.fromkeys(hues))}
    return np.array([ids[h] for h in hues])


def _readers(store_dir: Path, scored: str) -> tuple[ShardReader, ShardReader] | str:
    """The split evaluate scored (val, or ILSVRC-2010's test) and the training split."""
    try:
        return ShardReader(store_dir, scored), ShardReader(store_dir, "train")
    except (FileNotFoundError, KeyError) as err:
        return f"the store is not available ({err})"


def _pixels(reader: ShardReader, names: np.ndarray) -> np.ndarray:
    pos = {n: i for i, n in enumerate(reader.names)}
    return np.stack([reader.image(pos[str(n)], PIXEL_SIDE).reshape(-1) for n in names]).astype(np.float32)


def _thumb(reader: ShardReader, i: int, side: int, crop: int) -> np.ndarray:
    """The centre patch the net saw: the image decoded at `side`, cropped to `crop`."""
    offset = (side - crop) // 2
    return reader.image(i, side)[offset:offset + crop, offset:offset + crop]


def _rates(near: np.ndarray, val_labels: np.ndarray, train_labels: np.ndarray,
           groups: np.ndarray | None) -> tuple[float, float | None]:
    same = neighbours.same_class_rate(near, val_labels, train_labels)
    twin = None if groups is None else neighbours.same_class_rate(near, groups[val_labels], groups[train_labels])
    return same, twin


def figure4(base: R.ExperimentResult, mode: str, store_dir: Path, k: int, n_queries: int) -> Figure4:
    feats = base.features
    if "train" not in feats or not len(feats["train"]):
        return Figure4("evaluation kept no training-image features (`features_train_max: 0`), so there are no "
                       "neighbours to show")
    val_labels, train_labels = np.asarray(feats["val_labels"]), np.asarray(feats["train_labels"])
    groups = palette_groups(base)
    near = neighbours.nearest(feats["train"], feats["val"], k)
    fc7, fc7_twin = _rates(near, val_labels, train_labels, groups)
    numbers = dict(seed=base.seeds[0], neighbours=near.shape[1], val=len(feats["val"]), train=len(feats["train"]),
                   dim=feats["val"].shape[1], classes=len(base.classes), fc7_rate=fc7, fc7_group_rate=fc7_twin,
                   chance=neighbours.chance_rate(val_labels, train_labels),
                   group_chance=None if groups is None else neighbours.chance_rate(groups[val_labels],
                                                                                   groups[train_labels]))
    readers = _readers(store_dir, base.metrics.get("split", "val"))
    if isinstance(readers, str):
        return Figure4(None, **numbers, pixel_reason=readers, thumbs_reason=readers)
    val_reader, train_reader = readers
    train_pixels = _pixels(train_reader, feats["train_names"])
    pixel_near = neighbours.nearest(train_pixels, _pixels(val_reader, feats["val_names"]), k)
    pixel, pixel_twin = _rates(pixel_near, val_labels, train_labels, groups)
    cfg = base.runs[base.seeds[0]].config
    side, crop = cfg.get("data", {}).get("image_size", 256), cfg.get("model", {}).get("input_size", 227)
    val_pos = {n: i for i, n in enumerate(val_reader.names)}
    train_pos = {n: i for i, n in enumerate(train_reader.names)}
    words = [c["words"].replace("generated ", "") for c in base.classes]
    picks = np.linspace(0, len(feats["val"]) - 1, n_queries).astype(int)
    queries, shown = [], []
    for i, order in zip(picks, near[picks]):
        guesses = [words[int(c)] for c in base.top5[mode][0][i]]
        caption = (f"true: {words[int(val_labels[i])]}\ntop-5:\n"
                   + "\n".join(f" {j + 1}. {g}" for j, g in enumerate(guesses)))
        queries.append((_thumb(val_reader, val_pos[str(feats["val_names"][i])], side, crop), caption))
        shown.append(tuple(_thumb(train_reader, train_pos[str(feats["train_names"][j])], side, crop) for j in order))
    return Figure4(None, **numbers, pixel_rate=pixel, pixel_group_rate=pixel_twin, queries=tuple(queries),
                   shown=tuple(shown))
