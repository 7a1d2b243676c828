"""Section 2's preprocessing: rescale so the shorter side is 256, take the central 256x256, RGB always.

Fast path, measured on photographs (bench/resize.py, bench/decode_choices.py; docs/performance.md): simplejpeg
(libjpeg-turbo, fast DCT and upsampling) decodes JPEGs, at 1/2, 1/4 or 1/8 scale when the shorter side stays
>= 256 (libjpeg's reduced power-of-two IDCTs are cheap; its 3/4 scaling measured slower than a full decode);
the central square (whole-pixel offsets) is cut as a view and resampled to 256x256 once, by torch's uint8
antialiased bilinear kernel (Pillow's filter: on 100 photographs 0.04 grey levels apart on average, at most 15
at an edge; about 3x faster than Pillow's here); simplejpeg encodes.
Pillow decodes what libjpeg-turbo cannot (CMYK, PNG in disguise). Work is spread over processes, a shard each.
"""

from __future__ import annotations

import io
import json
import logging
import math
import multiprocessing
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import simplejpeg
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from alexnet_repro.data.ilsvrc import IMAGE_SUFFIXES, read_archive_index, read_classes
from alexnet_repro.data.safe_tar import GZIP_MAGIC
from alexnet_repro.data.sources import Part, archive_parts, file_parts, manifest, read_part
from alexnet_repro.data.store import (
    INDEX,
    STORE_SIZE,
    SUBSAMPLING,
    encode_image,
    shard_is_complete,
    shard_stem,
    write_index,
    write_shard,
)
from alexnet_repro.workers import map_in_processes

if TYPE_CHECKING:  # the data group's schema, for its type only: this module takes its values
    from alexnet_repro.data.config import ResizeConfig

log = logging.getLogger(__name__)
MAX_GUNZIPPED = 1 << 28  # 256 MB: ImageNet's largest JPEGs are tens of MB


class BadImageError(ValueError):
    pass


def _dct_factor(w: int, h: int, size: int) -> int:
    """The largest of 1, 2, 4, 8 that keeps the shorter side >= size once the DCT has scaled by it."""
    return next(f for f in (8, 4, 2, 1) if min(w, h) // f >= size or f == 1)


def _decode_fast(data: bytes, size: int) -> np.ndarray | None:
    """libjpeg-turbo via simplejpeg for RGB and grey JPEGs; None for anything it does not handle (CMYK, PNG...)."""
    if not simplejpeg.is_jpeg(data):
        return None
    try:
        h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if colorspace not in ("YCbCr", "Gray", "RGB"):
        return None
    f = _dct_factor(w, h, size)
    return simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=True, fastupsample=True,
                                  min_height=math.ceil(h / f), min_width=math.ceil(w / f))


def _decode_pil(data: bytes, size: int) -> np.ndarray:
    im = Image.open(io.BytesIO(data))
    w, h = im.size
    f = _dct_factor(w, h, size)
    if im.format == "JPEG" and f > 1:
        im.draft("RGB", (math.ceil(w / f), math.ceil(h / f)))  # decode at 1/2, 1/4, 1/8
    if im.mode.startswith("I"):  # 16-bit grey (I;16, I;16B, ...) or 32-bit integer: convert("RGB") clips to white
        return _high_bit_depth_grey(im)
    # A writable copy (torch takes it over). CMYK (Adobe-inverted or not), L, P, RGBA -> RGB.
    return np.array(im.convert("RGB"))


def _high_bit_depth_grey(im: Image.Image) -> np.ndarray:
    """A grey image of more than 8 bits as 8-bit RGB, scaled (65535 -> 255), not clipped: Pillow's convert("RGB")
    turned every 16-bit value above 255 white, so a 16-bit PNG became an all-white image in the store."""
    values = np.asarray(im, dtype=np.float64)
    top = 65535.0 if im.mode.startswith("I;16") or values.max(initial=0) <= 65535 else float(values.max())
    grey = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def center_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> its central square resampled to (size, size, 3): antialiased bilinear (PIL's filter)."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    # A view of the decoded image, no copy: copying the square into channels-last memory first measured slower
    # here (0.53 against 0.38 ms per photograph, resample and layout included).
    square = torch.from_numpy(rgb[top : top + side, left : left + side]).permute(2, 0, 1)[None]
    out = F.interpolate(square, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    # The kernel writes channels first; back to (size, size, 3) contiguous, which the encoder needs anyway.
    return out.contiguous(memory_format=torch.channels_last)[0].permute(1, 2, 0).numpy()


def _gunzipped(data: bytes) -> bytes:
    """The JPEG inside a gzipped one: ILSVRC-2010's archives hold such files under plain .JPEG names (TFDS lists
    n02487347_1956.JPEG; Fuel's reader unwraps any). Bounded, so a hostile file cannot fill the memory."""
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        inflate = zlib.decompressobj(wbits=31)  # 31: the gzip container
        out = inflate.decompress(data, MAX_GUNZIPPED)
    except zlib.error as err:
        raise ValueError(f"gzip data that does not decompress ({err})") from None
    if inflate.unconsumed_tail:
        raise ValueError(f"gzip data that decompresses to more than {MAX_GUNZIPPED:,} bytes")
    return out


def resize_center(path: str | Path | io.BytesIO, size: int = STORE_SIZE, name: str | None = None) -> np.ndarray:
    """Any image file (JPEG grey/RGB/CMYK, PNG in disguise, a gzipped JPEG) -> (size, size, 3) uint8 RGB.
    name: what errors call it (default: the path)."""
    name = name or getattr(path, "name", path)
    try:
        data = _gunzipped(path.getvalue() if isinstance(path, io.BytesIO) else Path(path).read_bytes())
        if not data:
            raise ValueError("empty file")
        rgb = _decode_fast(data, size)
        return center_square(rgb if rgb is not None else _decode_pil(data, size), size)
    except UnidentifiedImageError:
        # Pillow's own message names the BytesIO object by its address: different on every run, and this
        # message goes into index.json (skip_bad), which must be the same bytes for the same images.
        raise BadImageError(f"{name}: cannot be read as an image (not a format Pillow knows)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:  # a bomb is a bad file too
        raise BadImageError(f"{name}: cannot be read as an image ({err})") from None


@dataclass(frozen=True)
class ShardJob:
    folder: Path
    stem: str
    parts: list[Part]  # data/sources.py: files, or byte ranges of the archives
    encoding: str
    quality: int
    skip_bad: bool
    manifest: str  # sources.manifest(parts, settings): the shard is reused only when it matches
    size: int = STORE_SIZE  # the store's side: 256, or a source's own (CIFAR-10's 32, stored as it is)


def _run_job(job: ShardJob) -> None:
    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)  # one worker per core already: torch's own threads would only contend
    skipped: list[str] = []

    def records():
        for part in job.parts:
            for name, label, data in read_part(part):
                try:  # a source that hands out decoded images (CIFAR-10) at the store's size is stored as is
                    rgb = (data if data.shape[:2] == (job.size, job.size) else center_square(data, job.size)) \
                        if isinstance(data, np.ndarray) else resize_center(io.BytesIO(data), job.size, name=name)
                except BadImageError as err:
                    if not job.skip_bad:
                        raise
                    skipped.append(str(err))
                    continue
                yield name, label, encode_image(rgb, job.encoding, job.quality)

    write_shard(job.folder, job.stem, records(), job.manifest, skipped)


def split_parts(raw_dir: Path, index: dict | None, split: str, label_of: dict[str, int],
                shard_size: int) -> list[list[Part]]:
    """The inputs of each shard of a split: one class per shard when streaming a train archive's inner
    tars (whose images are known only once read), shard_size images per shard otherwise. index: the raw
    folder's archive index (read_archive_index), None for a folder of image files."""
    if index is None:
        parts = file_parts(raw_dir, split, label_of, IMAGE_SUFFIXES)
    else:
        parts = archive_parts(index, split, label_of)
        if split == "train":
            return [[p] for p in parts]
    return [parts[i : i + shard_size] for i in range(0, len(parts), shard_size)]


def _start_afresh(store_dir: Path) -> None:
    store_dir.mkdir(parents=True, exist_ok=True)
    (store_dir / INDEX).unlink(missing_ok=True)  # from here on the store does not look finished
    # A worker killed mid-shard (OOM, Ctrl-C's terminate) leaves its atomic_path temporary behind: never taken
    # for a shard, but up to a shard's size each, and it would be hashed into DVC's cache with the store.
    for leftover in store_dir.glob(".*.tmp"):
        leftover.unlink()


def _split_names(archive_index: dict | None) -> tuple[str, ...]:
    # A test split only where the source labels one (ILSVRC-2010's archives.json has a `test` section).
    return ("train", "val") + (("test",) if archive_index is not None and "test" in archive_index else ())


def _plan_shards(raw_dir: Path, store_dir: Path, archive_index: dict | None, label_of: dict[str, int],
                 settings: ResizeConfig, size: int) -> tuple[list[ShardJob], dict]:
    """Every split's shards in order ({split: {"shards": stems}}), and a job for each shard not already complete
    with these inputs and settings."""
    made_with = {"encoding": settings.encoding, "quality": settings.quality, "size": size,
                 "subsampling": SUBSAMPLING, "resampler": "torch-bilinear-aa"}
    jobs, splits = [], {}
    for split in _split_names(archive_index):
        chunks = split_parts(raw_dir, archive_index, split, label_of, settings.shard_size)
        stems = [shard_stem(split, n) for n in range(len(chunks))]
        splits[split] = {"shards": stems}
        for stem, chunk in zip(stems, chunks):
            digest = manifest(chunk, made_with)
            if not shard_is_complete(store_dir, stem, digest):
                jobs.append(ShardJob(folder=store_dir, stem=stem, parts=chunk, encoding=settings.encoding,
                                     quality=settings.quality, skip_bad=settings.skip_bad, manifest=digest,
                                     size=size))
    return jobs, splits


def _remove_stale_shards(store_dir: Path, splits: dict) -> None:
    for stale in store_dir.glob("*-*.json"):  # shards of an earlier, different layout
        if not any(stale.stem in s["shards"] for s in splits.values()):
            stale.unlink()
            stale.with_suffix(".bin").unlink(missing_ok=True)


def _resize_shards(jobs: list[ShardJob], workers: int, store_dir: Path, progress: bool) -> None:
    desc = f"resize -> {store_dir}"
    # Shards, not images: a class tar's image count is known only once it is read.
    with tqdm(total=len(jobs), desc=desc, unit="shard", disable=not progress) as bar:
        for _ in map_in_processes(_run_job, jobs, workers, desc=desc):
            bar.update(1)


def _tally_shards(store_dir: Path, splits: dict) -> list[str]:
    """Adds each split's image count and shard digests to `splits`; returns the messages of the images skipped.
    From the shard tables in shard order: the same index.json for any number of workers, and a resumed run still
    lists what earlier runs skipped."""
    skipped = []
    for entry in splits.values():
        tables = [json.loads((store_dir / f"{s}.json").read_text()) for s in entry["shards"]]
        entry["count"] = sum(len(t["names"]) for t in tables)
        entry["digests"] = [t["sha256"] for t in tables]  # the fingerprint's view of the images (store.py)
        skipped += [message for t in tables for message in t.get("skipped", [])]
    return skipped


def build_store(raw_dir: str | Path, store_dir: str | Path, settings: ResizeConfig, progress: bool = True) -> dict:
    """Resize every image of raw_dir into store_dir with data.resize's settings. Finished shards of an interrupted
    run are kept."""
    raw_dir, store_dir = Path(raw_dir), Path(store_dir)
    classes = read_classes(raw_dir)
    label_of = {c["wnid"]: i for i, c in enumerate(classes)}
    _start_afresh(store_dir)
    archive_index = read_archive_index(raw_dir)  # once: at ImageNet size 4 MB of JSON and a stat of each archive
    size = (archive_index or {}).get("image_size", STORE_SIZE)  # CIFAR-10's raw index says 32: kept as they are
    jobs, splits = _plan_shards(raw_dir, store_dir, archive_index, label_of, settings, size)
    _remove_stale_shards(store_dir, splits)
    _resize_shards(jobs, settings.workers, store_dir, progress)
    skipped = _tally_shards(store_dir, splits)
    for message in skipped:
        log.warning("skipped %s", message)
    store_index = {"encoding": settings.encoding, "image_size": size, "quality": settings.quality,
                   "subsampling": SUBSAMPLING, "classes": classes, "splits": splits, "skipped": skipped}
    write_index(store_dir, store_index)
    return store_index
