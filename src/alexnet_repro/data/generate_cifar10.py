"""A generated CIFAR-shaped set (NOT CIFAR-10) written as CIFAR-10's official python archive, byte format and
all, so that the very reader of the real archive (data/cifar10.py) reads it: the offline stand-in for the
paper's Figure 1 data (conf/data/cifar10_embedded.yaml), and what the tests feed that reader.

  cifar-10-python.tar.gz   gzip, tar: cifar-10-batches-py/ with data_batch_1..5, test_batch, batches.meta,
                           readme.html
Each batch is pickled as Python 2's cPickle wrote the originals (protocol 2): a dict with str keys `batch_label`,
`labels` (ints), `data` (an N x 3072 uint8 numpy array: R, G, B planes of 32x32, row-major), `filenames`;
batches.meta holds `num_cases_per_batch`, `label_names`, `num_vis`. Python 3's pickler cannot write Python 2
strings (it writes bytes as calls to _codecs.encode, which no CIFAR file holds), so the pickles are written here
opcode by opcode: the very opcodes and the three numpy globals of the originals.

The images: 10 classes of data/generate.py's kind (a textured shape in a two-hue palette shared by a pair of
classes, on a cluttered, unevenly lit background), drawn at 64x64 and averaged down to 32x32. Colour narrows a
class to two; shape and texture, a few pixels wide at 32x32, tell the pair apart, so a small net learns them in
a few epochs without reaching zero error at once. Same spec, same bytes (tar and gzip headers carry no times).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from alexnet_repro.atomic import atomic_path
from alexnet_repro.basics import ConfigError, in_range
from alexnet_repro.data.cifar10 import ARCHIVE, FOLDER, IMAGE_SIZE, META, TEST_BATCH, TRAIN_BATCHES
from alexnet_repro.data.generate import SHAPES, TEXTURES, _hue_colour, _shape_mask, _texture, palette
from alexnet_repro.workers import map_in_processes

SUPERSAMPLE = 2  # drawn at 64x64, averaged to 32x32: edges anti-aliased as a camera's would be


# --- Python 2 pickles, opcode by opcode ----------------------------------------------------------------------
def _py2(obj, out: bytearray) -> None:
    """Append obj's protocol-2 pickle opcodes as Python 2 would write them (str as Python 2 str)."""
    if obj is None:
        out += b"N"
    elif isinstance(obj, bool):  # before int: a bool is an int too
        out += b"\x88" if obj else b"\x89"
    elif isinstance(obj, int):
        _py2_int(obj, out)
    elif isinstance(obj, (str, bytes)):
        _py2_string(obj, out)
    elif isinstance(obj, tuple):
        _py2_tuple(obj, out)
    elif isinstance(obj, list):
        _py2_list(obj, out)
    elif isinstance(obj, dict):
        _py2_dict(obj, out)
    elif isinstance(obj, np.ndarray) and obj.dtype == np.uint8:
        _py2_uint8_array(obj, out)
    else:
        raise TypeError(f"no Python 2 pickle for {type(obj).__name__}")


def _py2_int(obj: int, out: bytearray) -> None:
    if 0 <= obj < 256:
        out += b"K" + bytes([obj])
    elif 0 <= obj < 65536:
        out += b"M" + struct.pack("<H", obj)
    else:
        out += b"J" + struct.pack("<i", obj)


def _py2_string(obj: str | bytes, out: bytearray) -> None:
    data = obj.encode("latin1") if isinstance(obj, str) else obj
    out += (b"U" + bytes([len(data)])) if len(data) < 256 else (b"T" + struct.pack("<I", len(data)))
    out += data


def _py2_tuple(obj: tuple, out: bytearray) -> None:
    out += b"("
    for item in obj:
        _py2(item, out)
    out += b"t"


def _py2_list(obj: list, out: bytearray) -> None:
    out += b"]"
    for start in range(0, len(obj), 1000):  # cPickle's batches of APPENDS
        out += b"("
        for item in obj[start : start + 1000]:
            _py2(item, out)
        out += b"e"


def _py2_dict(obj: dict, out: bytearray) -> None:
    out += b"}("
    for key, value in obj.items():
        _py2(key, out)
        _py2(value, out)
    out += b"u"


def _py2_uint8_array(obj: np.ndarray, out: bytearray) -> None:
    # numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b'), then its state:
    # (1, shape, dtype('u1', 0, 1) with its own state, fortran=False, the raw bytes)
    out += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
    _py2((0,), out)
    _py2("b", out)
    out += b"\x87R("  # TUPLE3, REDUCE, MARK
    _py2(1, out)
    _py2(tuple(obj.shape), out)
    out += b"cnumpy\ndtype\n"
    _py2(("u1", 0, 1), out)
    out += b"R"
    _py2((3, "|", None, None, None, -1, -1, 0), out)
    out += b"b"  # BUILD the dtype
    _py2(False, out)
    _py2(np.ascontiguousarray(obj).tobytes(), out)
    out += b"tb"  # the state tuple, BUILD the array


def py2_pickle(obj) -> bytes:
    out = bytearray(b"\x80\x02")
    _py2(obj, out)
    return bytes(out + b".")


def batch_pickle(images: np.ndarray, labels: list[int], names: list[str], batch_label: str) -> bytes:
    """(N, 32, 32, 3) uint8 RGB -> a CIFAR-10 batch file's bytes."""
    data = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), -1)  # R, G, B planes
    return py2_pickle({"batch_label": batch_label, "labels": [int(x) for x in labels], "data": data,
                       "filenames": names})


def _tar_member(tar: tarfile.TarFile, name: str, data: bytes | None) -> None:
    info = tarfile.TarInfo(name)
    info.mtime, info.uname, info.gname = 0, "", ""
    if data is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
    else:
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))


def archive_bytes(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                  names: list[str]) -> tuple[bytes, dict[str, str]]:
    """The archive of CIFAR-10's format holding train (split over five batches in order) and test images, and
    the md5 of each pickle in it, keyed as cifar10.MEMBER_MD5."""
    files: dict[str, bytes] = {}
    counter = 0
    for i, (images, labels) in enumerate(zip(np.array_split(train[0], 5), np.array_split(train[1], 5))):
        files[TRAIN_BATCHES[i]] = batch_pickle(
            images, labels.tolist(), [f"{names[y]}_s_{counter + k:06d}.png" for k, y in enumerate(labels)],
            f"training batch {i + 1} of 5")
        counter += len(labels)
    files[TEST_BATCH] = batch_pickle(test[0], test[1].tolist(),
                                     [f"{names[y]}_s_{counter + k:06d}.png" for k, y in enumerate(test[1])],
                                     "testing batch 1 of 1")
    files[META] = py2_pickle({"num_cases_per_batch": int(math.ceil(len(train[1]) / 5)), "label_names": names,
                              "num_vis": 3 * IMAGE_SIZE**2})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        _tar_member(tar, FOLDER, None)
        for name in (*TRAIN_BATCHES[:1], META, *TRAIN_BATCHES[1:], TEST_BATCH):
            _tar_member(tar, f"{FOLDER}/{name}", files[name])
        _tar_member(tar, f"{FOLDER}/readme.html",
                    b"<html><body>Generated by alexnet-repro (data/generate_cifar10.py): NOT CIFAR-10.</body></html>\n")
    return gzip.compress(buf.getvalue(), compresslevel=6, mtime=0), {
        name: hashlib.md5(data).hexdigest() for name, data in files.items()}


# --- The images ----------------------------------------------------------------------------------------------
@dataclass
class CifarSpec:
    train_per_class: int = 500
    test_per_class: int = 100
    seed: int = 0


CLASSES = 10  # CIFAR-10's count; the names say what each generated class is
LABEL_NAMES = [f"{SHAPES[c]}_{TEXTURES[c]}" for c in range(CLASSES)]


def cifar_spec_from(settings: dict) -> CifarSpec:
    """data.source.generated (conf/data/cifar10_embedded.yaml) as a CifarSpec; a key it lacks or an impossible
    value is one ConfigError naming the key."""
    known = CifarSpec.__dataclass_fields__
    for key, value in settings.items():
        if key not in known:
            raise ConfigError(f"data.source.generated.{key} is not a key; choose among {list(known)}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"data.source.generated.{key}={value!r} is impossible; it must be a whole number")
    spec = CifarSpec(**settings)
    in_range("data.source.generated.train_per_class", spec.train_per_class, 1)
    in_range("data.source.generated.test_per_class", spec.test_per_class, 1)
    return spec


def render(c: int, rng: np.random.Generator) -> np.ndarray:
    """One (32, 32, 3) uint8 image of class c."""
    side = IMAGE_SIZE * SUPERSAMPLE
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ramp = np.linspace(0, 1, side, dtype=np.float32)[None, :, None]
    img = Image.fromarray((c0 * (1 - ramp) + c1 * ramp).repeat(side, 0).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 5))):  # clutter: blobs and strokes of any colour
        x0, y0, rr = rng.uniform(0, side), rng.uniform(0, side), rng.uniform(0.04, 0.14) * side
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0 - rr, y0 - rr * rng.uniform(0.3, 1), x0 + rr, y0 + rr), fill=colour)
        else:
            draw.line((x0, y0, x0 + rng.uniform(-2, 2) * rr, y0 + rng.uniform(-2, 2) * rr), fill=colour,
                      width=int(max(1, rr / 3)))
    pixels = np.asarray(img, dtype=np.float32)
    r = rng.uniform(0.34, 0.48) * side
    cx, cy = side / 2 + rng.uniform(-1, 1) * (side / 2 - 0.8 * r), side / 2 + rng.uniform(-1, 1) * (side / 2 - 0.8 * r)
    angle = rng.uniform(0, 2 * math.pi)
    mask = _shape_mask(SHAPES[c], (side, side), cx, cy, r, angle)
    tex = _texture(TEXTURES[c], side, side, rng.uniform(0.25, 0.35) * r + 2, rng.uniform(0, math.pi), rng)
    hue0, hue1 = palette(c)
    fg0, fg1 = _hue_colour(hue0, rng), _hue_colour(hue1, rng)
    pixels = np.where(mask[..., None], fg0 * tex[..., None] + fg1 * (1 - tex[..., None]), pixels)
    gy, gx = np.mgrid[0:side, 0:side].astype(np.float32) / side - 0.5
    theta = rng.uniform(0, 2 * math.pi)
    light = rng.uniform(0.6, 1.2) + rng.uniform(0.2, 0.6) * (gx * math.cos(theta) + gy * math.sin(theta))
    pixels = pixels * light[..., None] + rng.normal(0, 6, pixels.shape)
    small = pixels.reshape(IMAGE_SIZE, SUPERSAMPLE, IMAGE_SIZE, SUPERSAMPLE, 3).mean((1, 3))
    return np.clip(small + 0.5, 0, 255).astype(np.uint8)


def _render_class(args) -> np.ndarray:
    c, seed, count = args
    rng = np.random.default_rng(seed)
    return np.stack([render(c, rng) for _ in range(count)])


def make_images(spec: CifarSpec, workers: int = 2, progress: bool = False):
    """((train images, labels), (test images, labels)), each split shuffled by the spec's seed."""
    seeds = np.random.SeedSequence(spec.seed).spawn(CLASSES)
    per_class = spec.train_per_class + spec.test_per_class
    jobs = [(c, seeds[c], per_class) for c in range(CLASSES)]
    desc = "generate embedded CIFAR-shaped set"
    rendered = list(tqdm(map_in_processes(_render_class, jobs, workers, ordered=True, desc=desc), total=CLASSES,
                         desc=desc, unit="class", disable=not progress))
    rng = np.random.default_rng(spec.seed + 1)
    splits = []
    for lo, hi in ((0, spec.train_per_class), (spec.train_per_class, per_class)):
        images = np.concatenate([r[lo:hi] for r in rendered])
        labels = np.repeat(np.arange(CLASSES), hi - lo)
        order = rng.permutation(len(labels))
        splits.append((images[order], labels[order]))
    return splits[0], splits[1]


def generate_cifar10(out_dir: str | Path, spec: CifarSpec | None = None, workers: int = 2,
                     progress: bool = True) -> tuple[Path, dict[str, str]]:
    """Write out_dir/cifar-10-python.tar.gz; returns its path and its pickles' md5s. An archive of the same
    bytes already there is left alone (its mtime too, so the store made from it stays current)."""
    train, test = make_images(spec or CifarSpec(), workers, progress)
    data, md5s = archive_bytes(train, test, LABEL_NAMES)
    path = Path(out_dir) / ARCHIVE
    if not (path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data):
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return path, md5s
