"""The resized image store: a few large shard files plus an index, instead of one file per image.

Layout of a store folder (written by src/resize.py):
  index.json               classes (wnid, words), encoding, image size, the shards of each split
  train-00000.bin          records back to back: JPEG bytes, or raw 256x256x3 uint8 (see docs/ and bench/)
  train-00000.json         that shard's record table: names (<wnid>/<file>), labels, byte offsets and lengths, the
                           manifest of its inputs (shard_is_complete) and the images it skipped
A shard's .json is written after its .bin, both atomically, so a shard is finished exactly when its .json
exists; index.json is written last, so a store is finished exactly when index.json exists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import simplejpeg

from alexnet_repro.atomic import atomic_path, write_json

INDEX = "index.json"
ENCODINGS = ("jpeg", "raw")
STORE_SIZE = 256  # section 2: shorter side rescaled to 256, then the central 256x256 patch
DECODE_SIZES = (256, 128, 64, 32)  # what a reader can hand out: libjpeg's DCT scaling by 1, 1/2, 1/4, 1/8
# Chroma at half resolution, as in most camera JPEGs and Pillow's default: on photographs a fifth fewer bytes
# than 4:4:4 and 30% less time to decode (bench/decode_choices.py, docs/performance.md).
SUBSAMPLING = "420"


def downscale(image: np.ndarray, side: int) -> np.ndarray:
    """(S, S, C) -> (side, side, C) by averaging S/side x S/side blocks (what the JPEG decoder's scaling does)."""
    f = image.shape[0] // side
    if f == 1:
        return image
    blocks = image.reshape(side, f, side, f, -1).mean((1, 3), dtype=np.float32)
    return blocks.round().astype(image.dtype) if image.dtype == np.uint8 else blocks.astype(image.dtype)


def shard_stem(split: str, number: int) -> str:
    return f"{split}-{number:05d}"


def encode_image(rgb: np.ndarray, encoding: str, quality: int) -> bytes:
    if encoding == "jpeg":
        return simplejpeg.encode_jpeg(np.ascontiguousarray(rgb), quality=quality, colorspace="RGB",
                                       colorsubsampling=SUBSAMPLING)
    if encoding == "raw":
        return np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    raise ValueError(f"store encoding must be one of {ENCODINGS}, got {encoding!r}")


def write_shard(folder: Path, stem: str, records: Iterable[tuple[str, int, bytes]], manifest: str = "",
                skipped: list[str] | None = None) -> int:
    """Stream (name, label, encoded image) records into one shard; returns how many were written.
    manifest: what the shard was made from (shard_is_complete compares it); skipped: filled while the
    records are consumed (bad images left out), kept in the table so a re-run's index still lists them."""
    table: dict = {"manifest": manifest, "names": [], "labels": [], "offsets": [], "lengths": []}
    offset = 0
    with atomic_path(folder / f"{stem}.bin") as tmp:
        with open(tmp, "wb") as f:
            for name, label, blob in records:
                f.write(blob)
                table["names"].append(name)
                table["labels"].append(int(label))
                table["offsets"].append(offset)
                table["lengths"].append(len(blob))
                offset += len(blob)
    table["skipped"] = list(skipped or [])
    write_json(folder / f"{stem}.json", table)
    return len(table["names"])


def shard_is_complete(folder: Path, stem: str, manifest: str) -> bool:
    """A shard from an earlier, interrupted run counts only if it was made from exactly these inputs
    (data/sources.py's manifest: the same files or archive bytes, labels and encoding settings)."""
    table = folder / f"{stem}.json"
    if not table.exists() or not (folder / f"{stem}.bin").exists():
        return False
    try:
        return json.loads(table.read_text())["manifest"] == manifest
    except (ValueError, KeyError):
        return False


@dataclass(frozen=True)
class StoreInfo:
    folder: Path
    encoding: str
    image_size: int
    classes: list[dict]
    splits: dict[str, dict]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def read_info(folder: str | Path) -> StoreInfo:
    folder = Path(folder)
    index = folder / INDEX
    if not index.exists():
        raise FileNotFoundError(f"{index} does not exist: run the resize stage first (`dvc repro resize`)")
    meta = json.loads(index.read_text())
    return StoreInfo(folder, meta["encoding"], meta["image_size"], meta["classes"], meta["splits"])


def fingerprint(folder: str | Path) -> str:
    """Identifies a finished store's content: the hash of its index, which lists every shard and class."""
    index = Path(folder) / INDEX
    if not index.exists():
        raise FileNotFoundError(f"{index} does not exist: run the resize stage first (`dvc repro resize`)")
    return hashlib.sha256(index.read_bytes()).hexdigest()[:16]


class ShardReader:
    """Random access to one split of a store. Safe to fork: files are opened lazily in each process."""

    def __init__(self, folder: str | Path, split: str):
        self.info = read_info(folder)
        if split not in self.info.splits:
            raise KeyError(f"split {split!r} not in store {folder} (has {sorted(self.info.splits)})")
        self.split = split
        self.shards = self.info.splits[split]["shards"]
        labels, shard_ids, offsets, lengths, names = [], [], [], [], []
        for i, stem in enumerate(self.shards):
            table = json.loads((self.info.folder / f"{stem}.json").read_text())
            labels += table["labels"]
            offsets += table["offsets"]
            lengths += table["lengths"]
            names += table["names"]
            shard_ids += [i] * len(table["labels"])
        self.labels = np.asarray(labels, dtype=np.int64)
        self.names = names
        self._shard = np.asarray(shard_ids, dtype=np.int32)
        self._offset = np.asarray(offsets, dtype=np.int64)
        self._length = np.asarray(lengths, dtype=np.int64)
        self._maps: dict[int, np.memmap] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def _map(self, shard: int) -> np.memmap:
        if shard not in self._maps:
            self._maps[shard] = np.memmap(self.info.folder / f"{self.shards[shard]}.bin", dtype=np.uint8, mode="r")
        return self._maps[shard]

    def raw_bytes(self, i: int) -> memoryview:
        start = self._offset[i]
        return self._map(int(self._shard[i]))[start : start + self._length[i]]

    def image(self, i: int, side: int = STORE_SIZE) -> np.ndarray:
        """(side, side, 3) uint8 RGB; a side below the store's is decoded at that scale, not resized after."""
        data = self.raw_bytes(i)
        s = self.info.image_size
        if side not in DECODE_SIZES or s % side:
            raise ValueError(f"cannot read {s}x{s} store images at {side}x{side}: choose one of {DECODE_SIZES}")
        if self.info.encoding == "jpeg":
            data = data if data.flags.c_contiguous else data.tobytes()
            return simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=side, min_width=side,
                                          min_factor=s // side)
        return downscale(np.array(data).reshape(s, s, 3), side)  # a copy: the memory map is read-only

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_maps"] = {}  # memmaps are reopened in each worker
        return state
