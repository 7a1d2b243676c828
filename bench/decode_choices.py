"""Where the resize stage and the loader spend their time on photographs, piece by piece, one core: the
measurements behind data/resize.py's and store.py's choices (docs/performance.md).

    python bench/decode_choices.py [--images 200]

Each line is milliseconds per image, the mean over the same images, after one warm-up call.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import simplejpeg
import torch
from photos import photographs  # bench/photos.py, beside this file
from PIL import Image

from alexnet_repro.data.resize import center_square, resize_center


def ms(fn, items) -> float:
    fn(items[0])
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items) * 1e3


def pil_resample(rgb: np.ndarray) -> np.ndarray:
    im = Image.fromarray(rgb)
    w, h = im.size
    side = min(w, h)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    return np.asarray(im.resize((256, 256), Image.Resampling.BILINEAR, box=box, reducing_gap=None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = photographs(args.images)
    print(f"{args.images} ImageNet-like photographs (mean {np.mean([len(f) for f in files]) / 1e3:.1f} KB), "
          "one core, ms per image")
    print("resize stage:")
    fast = {"fastdct": True, "fastupsample": True}
    print(f"  decode, full size                   {ms(lambda d: simplejpeg.decode_jpeg(d, 'RGB', **fast), files):.3f}")
    three_quarters = [simplejpeg.decode_jpeg_header(d)[:2] for d in files]
    pairs = list(zip(files, three_quarters))
    print("  decode, DCT-scaled to >= 256 (3/4)  "
          f"{ms(lambda p: simplejpeg.decode_jpeg(p[0], 'RGB', **fast, min_height=256, min_width=256), pairs):.3f}")
    decoded = [simplejpeg.decode_jpeg(d, "RGB", **fast) for d in files]
    print(f"  resample: Pillow bilinear (box)     {ms(pil_resample, decoded):.3f}")
    print(f"  resample: torch uint8 antialiased   {ms(lambda d: center_square(d, 256), decoded):.3f}")
    out = [center_square(d, 256) for d in decoded]
    for sub in ("444", "420"):
        enc = lambda a, s=sub: simplejpeg.encode_jpeg(a, 90, "RGB", s)  # noqa: E731
        print(f"  encode q90 {sub}                      {ms(enc, out):.3f}")
    print(f"  all of data/resize.resize_center    {ms(lambda d: resize_center(io.BytesIO(d)), files):.3f}")
    print("loader (256x256 store records):")
    for sub in ("444", "420"):
        records = [simplejpeg.encode_jpeg(a, 90, "RGB", sub) for a in out]
        print(f"  decode q90 {sub}                      {ms(lambda r: simplejpeg.decode_jpeg(r, 'RGB'), records):.3f}")
    u8 = np.stack(out[:64]).transpose(0, 3, 1, 2)[:, :, :227, :227].copy()
    t8 = torch.from_numpy(u8)
    print(f"  uint8 -> float32, torch (per image) {ms(lambda t: t.float(), [t8] * 20) / len(u8):.3f}")
    print(f"  uint8 -> float32, numpy (per image) {ms(lambda a: a.astype(np.float32), [u8] * 20) / len(u8):.3f}")


if __name__ == "__main__":
    main()
