"""Photographic benchmark content: real photographs decode far slower than generated images (more detail, less
smooth colour), so the resize and loader benches run on photographs by default.

The photographs are the colour ones scikit-image ships inside its wheel (astronaut, cat, coffee, motorcycle,
rocket, ...; `pip install -e .[bench]`), read as files without importing scikit-image. From them come
ImageNet-like JPEGs: a random crop (about 4:3, either way up, 60-100% of the photo's shorter side) scaled to
ImageNet's usual ~500x375 (a few larger), mirrored at random, saved at quality 90.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png",
          "rocket.jpg", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "color.png")


def photo_folder() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: the photograph content needs scikit-image's bundled photos: pip install -e .[bench]")
    return Path(spec.submodule_search_locations[0]) / "data"


def photographs(n: int, seed: int = 0) -> list[bytes]:
    """n ImageNet-like JPEG files (bytes) cut from the bundled photographs."""
    sources = [Image.open(photo_folder() / name).convert("RGB") for name in PHOTOS]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        photo = sources[i % len(sources)]
        w, h = photo.size
        side = int(min(w, h) * rng.uniform(0.6, 1.0))
        cw, ch = (side, int(side * 0.75)) if rng.random() < 0.75 else (int(side * 0.75), side)
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        target = 500 if rng.random() < 0.9 else int(rng.integers(900, 1400))
        crop = photo.crop((left, top, left + cw, top + ch))
        crop = crop.resize((target, round(target * ch / cw)) if cw >= ch else (round(target * cw / ch), target),
                           Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        buf = io.BytesIO()
        crop.save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out
