"""Where the resize stage's images come from, one shard's worth at a time: files of an unpacked ImageFolder
tree, or byte ranges of the ILSVRC archives indexed in place (data/ilsvrc.py's archives.json): a class's
inner tar in the train archive, or single images in the val (or ILSVRC-2010's test) archive; or one pickled
batch of CIFAR-10's archive (data/cifar10.py), whose images come decoded. Nothing is unpacked to disk.

A shard is rebuilt unless its manifest matches: the hash of every input's location, size and mtime (files)
or archive identity and byte range (archives), labels, and the encoding settings. Same name, other bytes,
other shard.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from alexnet_repro.data.cifar10 import read_batch
from alexnet_repro.data.safe_tar import iter_files


@dataclass(frozen=True)
class Part:
    """One input of a shard. kind: "file" (path), "range" (one image at offset/size of an archive),
    "inner_tar" (a class's tar at offset/size of the train archive), or "batch" (a CIFAR-10 pickle, the member
    `name` of the archive; size: its image count). name: the store name, <wnid>/<file>, or the wnid for an
    inner tar. stamp: what identifies the bytes (file size and mtime, archive identity; a batch's md5 last)."""

    kind: str
    path: str
    name: str
    label: int
    offset: int = 0
    size: int = 0
    stamp: str = ""


def _file_stamp(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def file_parts(raw_dir: Path, split: str, label_of: dict[str, int], suffixes: tuple[str, ...]) -> list[Part]:
    parts = []
    for wnid_dir in sorted((raw_dir / split).iterdir()):
        if wnid_dir.name not in label_of:
            raise ValueError(f"{wnid_dir} is not a class listed in {raw_dir / 'classes.json'}")
        parts += [Part(kind="file", path=str(f), name=f"{wnid_dir.name}/{f.name}", label=label_of[wnid_dir.name],
                       stamp=_file_stamp(f))
                  for f in sorted(wnid_dir.iterdir()) if f.suffix.lower() in suffixes]
    return parts


def archive_parts(index: dict, split: str, label_of: dict[str, int]) -> list[Part]:
    archive = index[split]["archive"]
    stamp = f"{archive['size']}:{archive['mtime_ns']}"
    if "batches" in index[split]:  # CIFAR-10: labels are in the pickles
        return [Part(kind="batch", path=archive["path"], name=b["member"], label=-1, offset=0, size=b["count"],
                     stamp=f"{stamp}:{b['md5']}")
                for b in index[split]["batches"]]
    if split == "train":
        return [Part(kind="inner_tar", path=archive["path"], name=c["wnid"], label=label_of[c["wnid"]],
                     offset=c["offset"], size=c["size"], stamp=stamp)
                for c in index["train"]["classes"]]
    return [Part(kind="range", path=archive["path"], name=f"{i['wnid']}/{i['name']}", label=label_of[i["wnid"]],
                 offset=i["offset"], size=i["size"], stamp=stamp)
            for i in index[split]["images"]]  # val, or ILSVRC-2010's test


def _read_range(path: str, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(size)
    if len(data) != size:
        raise OSError(f"{path}: {size} bytes expected at offset {offset}, {len(data)} found (truncated?)")
    return data


def read_part(part: Part) -> Iterator[tuple[str, int, bytes | np.ndarray]]:
    """(store name, label, the image file's bytes) for every image of the part; for a CIFAR-10 batch the
    decoded (32, 32, 3) uint8 image instead of a file's bytes."""
    if part.kind == "batch":
        yield from read_batch(part.path, part.name, part.stamp.rsplit(":", 1)[1])
    elif part.kind == "file":
        yield part.name, part.label, Path(part.path).read_bytes()
    elif part.kind == "range":
        yield part.name, part.label, _read_range(part.path, part.offset, part.size)
    else:  # one class's tar, read whole (ImageNet's largest is about 150 MB): memory stays bounded
        inner = io.BytesIO(_read_range(part.path, part.offset, part.size))
        for name, data in iter_files(f"{part.path}:{part.name}.tar", fileobj=inner):
            if not name.name.startswith("."):
                yield f"{part.name}/{name.name}", part.label, data.read()


def manifest(parts: list[Part], settings: dict) -> str:
    text = json.dumps({"parts": [asdict(p) for p in parts], "settings": settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
