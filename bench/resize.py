"""Resize throughput: our resize (data/resize.py: DCT-scaled decode, one resample, simplejpeg encode) against
the naive way (PIL open, convert, resize the whole image, crop, PIL save), one image at a time on one core,
same images, one run. Target: >= 2.5x the baseline's images/s per core.

    python bench/resize.py [--images 300] [--content photo|generated]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from photos import photographs  # bench/photos.py, beside this file
from PIL import Image

from alexnet_repro.data.generate import encode, render
from alexnet_repro.data.resize import resize_center
from alexnet_repro.data.store import STORE_SIZE, encode_image


def naive_resize(path: str | Path, out: str | Path, size: int = STORE_SIZE) -> None:
    """The baseline: PIL, one image at a time, the obvious way."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))))
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    im.crop((left, top, left + size, top + size)).save(out, quality=90)


def imagenet_like(folder: Path, n: int, content: str) -> list[Path]:
    """JPEGs with ImageNet's size spread (mostly ~500x375, some larger): photographs (bench/photos.py) or
    generated images (data/generate.py, which decode faster)."""
    if content == "photo":
        files = photographs(n)
    else:
        rng = np.random.default_rng(0)
        files = [encode(render(i % 10, rng), "rgb", 90) for i in range(n)]
    paths = []
    for i, data in enumerate(files):
        path = folder / f"{i:05d}.JPEG"
        path.write_bytes(data)
        paths.append(path)
    return paths


def ours(paths: list[Path]) -> float:
    start = time.perf_counter()
    for p in paths:
        encode_image(resize_center(p), "jpeg", 90)
    return len(paths) / (time.perf_counter() - start)


def naive(paths: list[Path], out: Path) -> float:
    start = time.perf_counter()
    for p in paths:
        naive_resize(p, out / p.name)
    return len(paths) / (time.perf_counter() - start)


def main() -> None:
    torch.set_num_threads(1)  # one core: our resample is torch's
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--content", choices=("photo", "generated"), default="photo")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "out").mkdir()
        paths = imagenet_like(tmp, args.images, args.content)
        big = sum(1 for p in paths if p.stat().st_size > 200_000)
        base, fast = [], []
        for _ in range(3):
            base.append(naive(paths, tmp / "out"))
            fast.append(ours(paths))
        print(f"{args.images} ImageNet-like JPEGs ({args.content} content, {big} over 200 KB), one core, best of 3")
        print(f"naive PIL resize : {max(base):7.1f} images/s")
        print(f"ours             : {max(fast):7.1f} images/s")
        print(f"ratio ours / naive = {max(fast) / max(base):.2f}  (target >= 2.5)")


if __name__ == "__main__":
    main()
