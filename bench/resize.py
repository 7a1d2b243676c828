"""Resize throughput: our resize (draft decode, one box resample, simplejpeg encode) against the naive way
(PIL open, convert, resize the whole image, crop, PIL save), one image at a time on one core, same images,
one run. Target: >= 2x the baseline's images/s per core.

    python bench/resize.py [--images 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from alexnet_repro.data.generate import encode, render
from alexnet_repro.data.resize import naive_resize, resize_center
from alexnet_repro.data.store import encode_image


def imagenet_like(folder: Path, n: int) -> list[Path]:
    """Generated JPEGs with ImageNet's size spread (mostly ~500x375, some several times larger)."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"{i:05d}.JPEG"
        path.write_bytes(encode(render(i % 10, rng), "rgb", 90))
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
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "out").mkdir()
        paths = imagenet_like(tmp, args.images)
        big = sum(1 for p in paths if p.stat().st_size > 200_000)
        base, fast = [], []
        for _ in range(3):
            base.append(naive(paths, tmp / "out"))
            fast.append(ours(paths))
        print(f"{args.images} ImageNet-like JPEGs ({big} large), one core, best of 3")
        print(f"naive PIL resize : {max(base):7.1f} images/s")
        print(f"ours             : {max(fast):7.1f} images/s")
        print(f"ratio ours / naive = {max(fast) / max(base):.2f}  (target >= 2)")


if __name__ == "__main__":
    main()
