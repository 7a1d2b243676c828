"""The embedded dataset: a small, deterministic, GENERATED image-classification set (not ImageNet) written
in the official ILSVRC-2012 file layout, so that the same ingest code runs on it as on the real tarballs.

  ILSVRC2012_img_train.tar     one inner tar per class, nXXXXXXXX.tar, holding nXXXXXXXX_<i>.JPEG
  ILSVRC2012_img_val.tar       flat ILSVRC2012_val_00000001.JPEG ...
  ILSVRC2012_devkit_t12.tar.gz data/meta.mat and data/ILSVRC2012_validation_ground_truth.txt

A class is a combination: an object shape, a surface texture and a colour palette. Each palette is shared by
two classes (colour alone narrows a class down to two) and every shape and texture belongs to one class, so
the net must learn texture or shape detectors, Figure 3's kind of kernels, to tell the pair apart. Hue,
brightness, scale, position, rotation, background clutter and lighting vary per image. Image sizes
follow ImageNet's spread (mostly about 500x375, some several times larger, a few under 256 on a side), and
ImageNet's quirks are there: a few grayscale JPEGs, a few CMYK JPEGs, one PNG file named .JPEG.
Same seed, same bytes: tar and gzip headers carry no times or owners, the .mat header no date.
"""

from __future__ import annotations

import gzip
import io
import math
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.io import savemat
from tqdm import tqdm

from alexnet_repro.atomic import atomic_path
from alexnet_repro.basics import ConfigError, in_range
from alexnet_repro.workers import map_in_processes

SHAPES = ("disc", "square", "triangle", "star", "cross", "ring", "hexagon", "crescent", "arrow", "diamond")
TEXTURES = ("stripes", "dots", "checker", "waves", "grid", "rings", "zigzag", "speckle", "solid", "diagonal")
# Two hues per palette (degrees on the colour wheel), jittered per image; palette p serves classes 2p and 2p+1.
PALETTES = ((0, 45), (120, 170), (220, 270), (300, 20), (60, 190))
TRAIN_TAR, VAL_TAR, DEVKIT_TAR = "ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar", "ILSVRC2012_devkit_t12.tar.gz"


@dataclass
class GeneratedSpec:
    classes: int = 10
    train_per_class: int = 130
    val_per_class: int = 50
    seed: int = 0
    quality: int = 90


def spec_from(settings: dict) -> GeneratedSpec:
    """data.source.generated (conf/data/*.yaml) as a GeneratedSpec; a key it lacks or an impossible value is
    one ConfigError naming the key."""
    known = GeneratedSpec.__dataclass_fields__
    for key, value in settings.items():
        if key not in known:
            raise ConfigError(f"data.source.generated.{key} is not a key; choose among {list(known)}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"data.source.generated.{key}={value!r} is impossible; it must be a whole number")
    spec = GeneratedSpec(**settings)
    in_range("data.source.generated.classes", spec.classes, 2)
    for key in ("train_per_class", "val_per_class"):
        in_range(f"data.source.generated.{key}", getattr(spec, key), 1)
    in_range("data.source.generated.quality", spec.quality, 1, 100)
    return spec


def wnid(c: int) -> str:
    return f"n99{c:06d}"  # WordNet ids start with n0/n1: these can never be mistaken for ImageNet's


def class_words(c: int) -> str:
    hues = "/".join(str(h) for h in palette(c))
    return f"generated {SHAPES[c % len(SHAPES)]} with {TEXTURES[c % len(TEXTURES)]} texture, hues {hues}"


def palette(c: int) -> tuple[int, int]:
    return PALETTES[(c // 2) % len(PALETTES)]


def _hue_colour(hue: float, rng: np.random.Generator) -> np.ndarray:
    """An RGB colour (0..255) of this hue (+-12 degrees), saturated, of random brightness."""
    h = ((hue + rng.uniform(-12, 12)) % 360) / 60
    sat, value = rng.uniform(0.6, 1.0), rng.uniform(120, 255)
    k = (np.array([5, 3, 1]) + h) % 6  # the standard HSV -> RGB formula
    return value * (1 - sat * np.clip(np.minimum(k, 4 - k), 0, 1))


def _image_size(rng: np.random.Generator) -> tuple[int, int]:
    r = rng.random()
    if r < 0.05:
        w, h = int(rng.integers(140, 250)), int(rng.integers(110, 240))  # smaller than 256 on a side
    elif r < 0.15:
        w, h = int(rng.integers(900, 1800)), int(rng.integers(700, 1400))  # several times larger
    else:
        w, h = int(500 * rng.uniform(0.85, 1.1)), int(375 * rng.uniform(0.85, 1.1))
    return (w, h) if rng.random() < 0.75 else (h, w)  # a quarter in portrait


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    def ring(n, radii, offset=0.0):
        pts = []
        for i in range(n):
            a = angle + offset + 2 * math.pi * i / n
            rr = radii[i % len(radii)]
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        return pts

    if shape == "square":
        return ring(4, [r], math.pi / 4)
    if shape == "diamond":
        return ring(4, [r, 0.55 * r])
    if shape == "triangle":
        return ring(3, [r])
    if shape == "hexagon":
        return ring(6, [r])
    if shape == "star":
        return ring(10, [r, 0.42 * r])
    if shape == "cross":
        return ring(12, [r, 0.5 * r, 0.5 * r], math.pi / 12)
    if shape == "arrow":
        pts = [(1, 0), (0.1, 0.6), (0.1, 0.25), (-1, 0.25), (-1, -0.25), (0.1, -0.25), (0.1, -0.6)]
        ca, sa = math.cos(angle), math.sin(angle)
        return [(cx + r * (x * ca - y * sa), cy + r * (x * sa + y * ca)) for x, y in pts]
    raise ValueError(shape)


def _shape_mask(shape: str, size: tuple[int, int], cx, cy, r, angle) -> np.ndarray:
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "disc":
        draw.ellipse(box, fill=255)
    elif shape == "ring":
        draw.ellipse(box, fill=255)
        draw.ellipse((cx - 0.55 * r, cy - 0.55 * r, cx + 0.55 * r, cy + 0.55 * r), fill=0)
    elif shape == "crescent":
        draw.ellipse(box, fill=255)
        dx, dy = 0.45 * r * math.cos(angle), 0.45 * r * math.sin(angle)
        draw.ellipse((cx - r + dx, cy - r + dy, cx + r + dx, cy + r + dy), fill=0)
    else:
        draw.polygon(_polygon(shape, cx, cy, r, angle), fill=255)
    return np.asarray(mask) > 127


def _texture(kind: str, h: int, w: int, scale: float, angle: float, rng) -> np.ndarray:
    """A two-tone pattern in [0, 1], (h, w)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (x * math.cos(angle) + y * math.sin(angle)) / scale
    v = (-x * math.sin(angle) + y * math.cos(angle)) / scale
    if kind == "stripes":
        t = np.sin(u * 2 * math.pi) > 0
    elif kind == "dots":
        t = ((u % 1 - 0.5) ** 2 + (v % 1 - 0.5) ** 2) < 0.09
    elif kind == "checker":
        t = (np.floor(u) + np.floor(v)) % 2 == 0
    elif kind == "waves":
        t = np.sin(2 * math.pi * (u + 0.3 * np.sin(2 * math.pi * v / 2))) > 0
    elif kind == "grid":
        t = ((u % 1) < 0.2) | ((v % 1) < 0.2)
    elif kind == "rings":
        t = np.sin(2 * math.pi * np.hypot(u - u.mean(), v - v.mean())) > 0
    elif kind == "zigzag":
        t = np.sin(2 * math.pi * (u + np.abs((v % 1) - 0.5))) > 0
    elif kind == "speckle":
        t = rng.random((h, w)) < 0.3
    elif kind == "diagonal":
        t = ((u + v) % 1) < 0.3
    else:  # solid
        t = np.zeros((h, w), bool)
    return t.astype(np.float32)


def render(c: int, rng: np.random.Generator) -> Image.Image:
    """One image of class c: cluttered lit background, the class's textured shape somewhere on it."""
    w, h = _image_size(rng)
    # Background: a two-colour gradient, noise and a handful of clutter strokes and blobs.
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    img = Image.fromarray((c0 * (1 - ramp) + c1 * ramp).repeat(h, 0).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    side = min(w, h)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        rr = rng.uniform(0.02, 0.10) * side
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0 - rr, y0 - rr * rng.uniform(0.3, 1), x0 + rr, y0 + rr), fill=colour)
        else:
            draw.line((x0, y0, x0 + rng.uniform(-2, 2) * rr, y0 + rng.uniform(-2, 2) * rr), fill=colour,
                      width=int(max(1, rr / 4)))
    pixels = np.asarray(img, dtype=np.float32)
    # The object: the class's shape, filled with its texture in two colours of its palette.
    # Somewhere in the central square (what survives section 2's centre crop), mostly inside it.
    r = rng.uniform(0.28, 0.45) * side
    cx = w / 2 + rng.uniform(-1, 1) * max(side / 2 - 0.8 * r, 0)
    cy = h / 2 + rng.uniform(-1, 1) * max(side / 2 - 0.8 * r, 0)
    angle = rng.uniform(0, 2 * math.pi)
    mask = _shape_mask(SHAPES[c % len(SHAPES)], (w, h), cx, cy, r, angle)
    tex = _texture(TEXTURES[c % len(TEXTURES)], h, w, rng.uniform(0.10, 0.20) * r + 3, rng.uniform(0, math.pi), rng)
    hue0, hue1 = palette(c)
    fg0, fg1 = _hue_colour(hue0, rng), _hue_colour(hue1, rng)
    fill = fg0 * tex[..., None] + fg1 * (1 - tex[..., None])
    pixels = np.where(mask[..., None], fill, pixels)
    # Lighting: a random brightness ramp across the image and sensor noise.
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, 2 * math.pi)
    ramp2 = ((gx / w - 0.5) * math.cos(theta) + (gy / h - 0.5) * math.sin(theta))[..., None]
    pixels = pixels * (rng.uniform(0.6, 1.2) + rng.uniform(0.2, 0.6) * ramp2)
    pixels += rng.normal(0, 6, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def encode(img: Image.Image, kind: str, quality: int) -> bytes:
    """kind: rgb | gray | cmyk | png (a PNG file that will be named .JPEG, as one is in ILSVRC-2012)."""
    buf = io.BytesIO()
    if kind == "png":
        img.save(buf, format="PNG")
    else:
        mode = {"rgb": "RGB", "gray": "L", "cmyk": "CMYK"}[kind]
        img.convert(mode).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _quirk(index: int) -> str:
    """Deterministic quirks: every 97th image grayscale, every 89th CMYK, the 5th a PNG in disguise."""
    if index == 5:
        return "png"
    if index % 97 == 13:
        return "gray"
    if index % 89 == 7:
        return "cmyk"
    return "rgb"


def _tar_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _meta_mat(spec: GeneratedSpec) -> bytes:
    """meta.mat as in the ILSVRC-2012 devkit (the fields torchvision's parser reads), leaf synsets only."""
    dtype = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("gloss", "O"), ("num_children", "O"),
             ("wordnet_height", "O"), ("num_train_images", "O")]
    synsets = np.zeros((spec.classes, 1), dtype=dtype)
    for c in range(spec.classes):
        synsets[c, 0] = (c + 1, wnid(c), class_words(c), "generated image class, not ImageNet", 0, 0,
                         spec.train_per_class)
    buf = io.BytesIO()
    savemat(buf, {"synsets": synsets})
    data = bytearray(buf.getvalue())
    header = b"MATLAB 5.0 MAT-file, alexnet-repro generated devkit (not ImageNet)"
    data[:116] = header.ljust(116)  # the default header holds the creation date: bytes would change daily
    return bytes(data)


def _render_class(args) -> tuple[bytes, list[tuple[int, bytes]]]:
    """All images of one class (its own seed, so classes render in parallel): inner train tar, val images."""
    c, seed, spec, first_index = args
    rng = np.random.default_rng(seed)
    files, counter = [], first_index
    for i in range(spec.train_per_class):
        files.append((f"{wnid(c)}_{i + 1}.JPEG", encode(render(c, rng), _quirk(counter), spec.quality)))
        counter += 1
    val = []
    for _ in range(spec.val_per_class):
        val.append((c, encode(render(c, rng), _quirk(counter), spec.quality)))
        counter += 1
    return _tar_bytes(files), val


def generate(out_dir: str | Path, spec: GeneratedSpec | None = None, workers: int = 2,
             progress: bool = True) -> dict[str, Path]:
    """Write the three ILSVRC-2012-layout archives into out_dir; returns their paths."""
    spec = spec or GeneratedSpec()
    out = Path(out_dir)
    per_class = spec.train_per_class + spec.val_per_class
    seeds = np.random.SeedSequence(spec.seed).spawn(spec.classes)
    jobs = [(c, seeds[c], spec, c * per_class) for c in range(spec.classes)]
    desc = "generate embedded dataset"
    results = list(tqdm(map_in_processes(_render_class, jobs, workers, ordered=True, desc=desc), total=len(jobs),
                        desc=desc, unit="class", disable=not progress))
    inner = [(f"{wnid(c)}.tar", tar) for c, (tar, _) in enumerate(results)]
    val_items = [item for _, val in results for item in val]
    # The validation set is flat and shuffled; the ground truth lists ILSVRC2012_IDs (1-based) in file order.
    order = np.random.default_rng(spec.seed + 1).permutation(len(val_items))
    val_files = [(f"ILSVRC2012_val_{k + 1:08d}.JPEG", val_items[j][1]) for k, j in enumerate(order)]
    truth = "".join(f"{val_items[j][0] + 1}\n" for j in order).encode()
    devkit = _tar_bytes([("ILSVRC2012_devkit_t12/data/meta.mat", _meta_mat(spec)),
                         ("ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt", truth)])
    paths = {"train": out / TRAIN_TAR, "val": out / VAL_TAR, "devkit": out / DEVKIT_TAR}
    for key, data in (("train", _tar_bytes(inner)), ("val", _tar_bytes(val_files)),
                      ("devkit", gzip.compress(devkit, mtime=0))):
        with atomic_path(paths[key]) as tmp:
            tmp.write_bytes(data)
    return paths
