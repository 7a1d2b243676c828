"""Section 2's preprocessing: rescale so the shorter side is 256, take the central 256x256, RGB always.

Fast path, measured in bench/resize.py: simplejpeg (libjpeg-turbo, fast DCT and upsampling) decodes JPEGs,
letting the DCT skip detail the resize would throw away (1/2, 1/4, 1/8 scaling); one bilinear resample goes
straight from the central square of the source to 256x256; simplejpeg encodes the result. Pillow handles what
libjpeg-turbo cannot (CMYK, PNG in disguise). Work is spread over processes, one shard at a time.
"""

from __future__ import annotations

import io
import json
import logging
import math
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from alexnet_repro.atomic import write_json
from alexnet_repro.data.ilsvrc import IMAGE_SUFFIXES, read_classes
from alexnet_repro.data.store import INDEX, encode_image, shard_is_complete, shard_stem, write_shard

SIZE = 256
log = logging.getLogger(__name__)


class BadImageError(ValueError):
    pass


def _decode_fast(data: bytes, size: int) -> np.ndarray | None:
    """libjpeg-turbo via simplejpeg for RGB and grey JPEGs, scaled by the DCT to the smallest size whose
    shorter side is still >= `size`; None for anything it does not handle (CMYK, PNG, ...)."""
    if not simplejpeg.is_jpeg(data):
        return None
    try:
        h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if colorspace not in ("YCbCr", "Gray", "RGB"):
        return None
    scale = size / min(w, h)
    return simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=True, fastupsample=True,
                                  min_height=math.ceil(h * scale), min_width=math.ceil(w * scale))


def _decode_pil(data: bytes, size: int) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    w, h = im.size
    scale = size / min(w, h)
    if im.format == "JPEG" and scale < 1:
        im.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))  # decode at 1/2, 1/4, 1/8
    return im.convert("RGB")  # CMYK (Adobe-inverted or not), L, P, RGBA -> RGB


def resize_center(path: str | Path | io.BytesIO, size: int = SIZE) -> np.ndarray:
    """Any image file (JPEG grey/RGB/CMYK, PNG in disguise) -> (size, size, 3) uint8 RGB."""
    name = getattr(path, "name", path)
    try:
        data = path.getvalue() if isinstance(path, io.BytesIO) else Path(path).read_bytes()
        if not data:
            raise ValueError("empty file")
        rgb = _decode_fast(data, size)
        im = Image.fromarray(rgb) if rgb is not None else _decode_pil(data, size)
        w, h = im.size
        side = min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        return np.asarray(im.resize((size, size), Image.Resampling.BILINEAR, box=box, reducing_gap=None))
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise BadImageError(f"{name}: cannot be read as an image ({err})") from None


def naive_resize(path: str | Path, out: str | Path, size: int = SIZE) -> None:
    """The baseline bench/resize.py compares against: PIL, one image at a time, the obvious way."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))))
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    im.crop((left, top, left + size, top + size)).save(out, quality=90)


@dataclass(frozen=True)
class ShardJob:
    folder: Path
    stem: str
    files: list[tuple[str, int]]  # (path, label)
    encoding: str
    quality: int
    skip_bad: bool


def _run_job(job: ShardJob) -> tuple[str, int, list[str]]:
    skipped: list[str] = []

    def records():
        for path, label in job.files:
            try:
                rgb = resize_center(path)
            except BadImageError as err:
                if not job.skip_bad:
                    raise
                skipped.append(str(err))
                continue
            yield Path(path).name, label, encode_image(rgb, job.encoding, job.quality)

    write_shard(job.folder, job.stem, records())
    return job.stem, len(job.files), skipped


def list_split(raw_dir: Path, split: str, label_of: dict[str, int]) -> list[tuple[str, int]]:
    files = []
    for wnid_dir in sorted((raw_dir / split).iterdir()):
        if wnid_dir.name not in label_of:
            raise ValueError(f"{wnid_dir} is not a class listed in {raw_dir / 'classes.json'}")
        files += [(str(f), label_of[wnid_dir.name]) for f in sorted(wnid_dir.iterdir())
                  if f.suffix.lower() in IMAGE_SUFFIXES]
    return files


def build_store(raw_dir: str | Path, store_dir: str | Path, encoding: str = "jpeg", quality: int = 90,
                shard_size: int = 1000, workers: int = 2, skip_bad: bool = False, progress: bool = True) -> dict:
    """Resize every image of raw_dir into store_dir. Finished shards of an interrupted run are kept."""
    raw_dir, store_dir = Path(raw_dir), Path(store_dir)
    classes = read_classes(raw_dir)
    label_of = {c["wnid"]: i for i, c in enumerate(classes)}
    store_dir.mkdir(parents=True, exist_ok=True)
    (store_dir / INDEX).unlink(missing_ok=True)  # from here on the store does not look finished
    jobs, splits = [], {}
    for split in ("train", "val"):
        files = list_split(raw_dir, split, label_of)
        chunks = [files[i : i + shard_size] for i in range(0, len(files), shard_size)]
        stems = [shard_stem(split, n) for n in range(len(chunks))]
        splits[split] = {"shards": stems}
        for stem, chunk in zip(stems, chunks):
            if not shard_is_complete(store_dir, stem, [Path(p).name for p, _ in chunk]):
                jobs.append(ShardJob(store_dir, stem, chunk, encoding, quality, skip_bad))
    for stale in store_dir.glob("*-*.json"):  # shards of an earlier, different layout
        if not any(stale.stem in s["shards"] for s in splits.values()):
            stale.unlink()
            stale.with_suffix(".bin").unlink(missing_ok=True)
    skipped: list[str] = []
    total = sum(len(j.files) for j in jobs)
    with tqdm(total=total, desc=f"resize -> {store_dir}", unit="img", disable=not progress) as bar:
        if workers > 1 and len(jobs) > 1:
            with get_context("fork").Pool(workers) as pool:
                for _, n, bad in pool.imap_unordered(_run_job, jobs):
                    skipped += bad
                    bar.update(n)
        else:
            for job in jobs:
                _, n, bad = _run_job(job)
                skipped += bad
                bar.update(n)
    for message in skipped:
        log.warning("skipped %s", message)
    for entry in splits.values():
        entry["count"] = sum(len(json.loads((store_dir / f"{s}.json").read_text())["names"]) for s in entry["shards"])
    index = {"format": 1, "encoding": encoding, "image_size": SIZE, "quality": quality, "classes": classes,
             "splits": splits, "skipped": skipped}
    write_json(store_dir / INDEX, index)
    return index
