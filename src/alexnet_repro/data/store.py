"""The resized image store: a few large shard files plus an index, instead of one file per image.

Layout of a store folder (written by src/resize.py):
  index.json               format, classes (wnid, words), encoding, image size, the shards of each split with
                           their sha256 digests; splits train and val, and test where the source labels one
                           (ILSVRC-2010): a mapping that readers take split by split, so no new format
  train-00000.bin          records back to back: JPEG bytes, or raw 256x256x3 uint8 (see docs/ and bench/)
  train-00000.json         that shard's record table: names (<wnid>/<file>), labels, byte offsets and lengths, the
                           sha256 and size of its .bin (computed while writing it), the manifest of its inputs
                           (shard_is_complete) and the images it skipped
A shard's .json is written after its .bin, both atomically, so a shard is finished exactly when its .json
exists; index.json is written last, so a store is finished exactly when index.json exists. index.json is
written and read here only (write_index, read_index), and a reader refuses another format in one line.
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
from alexnet_repro.checked_json import read_checked

INDEX = "index.json"
FORMAT = 2  # 2: each split lists its shards' sha256 digests, so the store's fingerprint covers the images
INDEX_KEYS = ("format", "encoding", "image_size", "classes", "splits")
SPLIT_KEYS = ("shards", "count", "digests")
TABLE_KEYS = ("names", "labels", "offsets", "lengths", "size", "sha256")
RESIZE_AGAIN = "re-run the resize stage (`dvc repro resize`)"
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
    digest = hashlib.sha256()  # while writing: the store's fingerprint then costs no second read
    with atomic_path(folder / f"{stem}.bin") as tmp:
        with open(tmp, "wb") as f:
            for name, label, blob in records:
                f.write(blob)
                digest.update(blob)
                table["names"].append(name)
                table["labels"].append(int(label))
                table["offsets"].append(offset)
                table["lengths"].append(len(blob))
                offset += len(blob)
    table["size"], table["sha256"] = offset, digest.hexdigest()
    table["skipped"] = list(skipped or [])
    write_json(folder / f"{stem}.json", table)
    return len(table["names"])


def shard_is_complete(folder: Path, stem: str, manifest: str) -> bool:
    """A shard from an earlier, interrupted run counts only if it was made from exactly these inputs
    (data/sources.py's manifest: the same files or archive bytes, labels and encoding settings)."""
    table, data = folder / f"{stem}.json", folder / f"{stem}.bin"
    if not table.exists() or not data.exists():
        return False
    try:
        meta = json.loads(table.read_text())
        # a table of an older format (no digest) or a .bin of another size (cut short, replaced): made again
        return meta["manifest"] == manifest and "sha256" in meta and meta["size"] == data.stat().st_size
    except (ValueError, KeyError, TypeError):
        return False


class StoreError(ValueError):
    """A store file of another format, or damaged: one line naming it and the stage that writes it again."""


def _read_json(path: Path, keys: tuple[str, ...]) -> dict:
    return read_checked(path, keys, StoreError, RESIZE_AGAIN)


def write_index(folder: Path, index: dict) -> None:
    """index.json, last: its presence means the store is whole. `index` holds INDEX_KEYS but the format."""
    write_json(folder / INDEX, {"format": FORMAT, **index})


def read_index(folder: str | Path) -> dict:
    index = Path(folder) / INDEX
    if not index.exists():
        raise FileNotFoundError(f"{index} does not exist: run the resize stage first (`dvc repro resize`)")
    meta = _read_json(index, INDEX_KEYS)
    if meta["format"] != FORMAT:
        raise StoreError(f"{index} has format {meta['format']!r}, this code reads {FORMAT}: {RESIZE_AGAIN}")
    for split, entry in meta["splits"].items():
        if not isinstance(entry, dict) or any(k not in entry for k in SPLIT_KEYS):
            raise StoreError(f"{index}: split {split!r} lacks one of {SPLIT_KEYS}: {RESIZE_AGAIN}")
    return meta


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
    meta = read_index(folder)
    return StoreInfo(Path(folder), meta["encoding"], meta["image_size"], meta["classes"], meta["splits"])


def fingerprint(folder: str | Path) -> str:
    """Identifies a finished store's content: the hash of its index, which lists every class and shard with
    the sha256 of the shard's bytes (computed once, when it was written). Relabelled or swapped images change it."""
    read_index(folder)  # an index of another format has no digests: refused, not fingerprinted
    return hashlib.sha256((Path(folder) / INDEX).read_bytes()).hexdigest()[:16]


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
            table = self._table(stem)
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

    def _table(self, stem: str) -> dict:
        """A shard's table, checked against its .bin: a shard cut short (a full disk, a copy broken off) is one
        line here, not a failed decode deep in a DataLoader worker."""
        table = _read_json(self.info.folder / f"{stem}.json", TABLE_KEYS)
        data = self.info.folder / f"{stem}.bin"
        size = data.stat().st_size if data.exists() else None
        end = max((o + n for o, n in zip(table["offsets"], table["lengths"])), default=0)
        if size is None or size != table["size"] or end > size:
            have = "does not exist" if size is None else f"has {size:,} bytes"
            raise StoreError(f"{data} {have}, its table {stem}.json records {table['size']:,}: the shard is cut "
                             f"short or was replaced; {RESIZE_AGAIN}")
        return table

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
