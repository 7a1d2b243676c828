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


def pil_resample(rgb: np.ndarray, whole_pixels: bool = False) -> np.ndarray:
    """Pillow's bilinear resample of the central square: with the exact centre (what resize used), or from
    whole-pixel offsets (what center_square cuts), to compare the two filters on the same pixels."""
    im = Image.fromarray(rgb)
    w, h = im.size
    side = min(w, h)
    left, top = ((w - side) // 2, (h - side) // 2) if whole_pixels else ((w - side) / 2, (h - side) / 2)
    box = (left, top, left + side, top + side)
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
    print("  decode, DCT-scaled to >= 256 (3/4)  "
          f"{ms(lambda d: simplejpeg.decode_jpeg(d, 'RGB', **fast, min_height=256, min_width=256), files):.3f}")
    decoded = [simplejpeg.decode_jpeg(d, "RGB", **fast) for d in files]
    print(f"  resample: Pillow bilinear (box)     {ms(pil_resample, decoded):.3f}")
    print(f"  resample: torch uint8 antialiased   {ms(lambda d: center_square(d, 256), decoded):.3f}")
    out = [center_square(d, 256) for d in decoded]
    same_crop = [np.abs(center_square(d, 256).astype(int) - pil_resample(d, whole_pixels=True)) for d in decoded]
    print(f"  torch vs Pillow, same crop: mean {np.mean([x.mean() for x in same_crop]):.3f}, "
          f"max {max(x.max() for x in same_crop)} grey levels")
    for sub in ("444", "420"):
        enc = lambda a, s=sub: simplejpeg.encode_jpeg(a, 90, "RGB", s)  # noqa: E731
        print(f"  encode q90 {sub}                      {ms(enc, out):.3f}")
    print(f"  all of data/resize.resize_center    {ms(lambda d: resize_center(io.BytesIO(d)), files):.3f}")
    print("loader (256x256 store records):")
    for sub in ("444", "420"):
        records = [simplejpeg.encode_jpeg(a, 90, "RGB", sub) for a in out]
        print(f"  decode q90 {sub}                      {ms(lambda r: simplejpeg.decode_jpeg(r, 'RGB'), records):.3f}"
              f"   ({np.mean([len(r) for r in records]) / 1e3:.1f} KB per record)")
    views = [torch.from_numpy(a).permute(2, 0, 1) for a in out[:64]]
    print(f"  stack 64 as (3, S, S), transposing  {ms(torch.stack, [views] * 20) / len(views):.3f}")
    print(f"  stack 64 as decoded (S, S, 3)       "
          f"{ms(lambda v: torch.stack([x.permute(1, 2, 0) for x in v]), [views] * 20) / len(views):.3f}")
    u8 = np.stack(out[:64]).transpose(0, 3, 1, 2)[:, :, :227, :227].copy()
    t8 = torch.from_numpy(u8)
    print(f"  uint8 -> float32, torch (per image) {ms(lambda t: t.float(), [t8] * 20) / len(u8):.3f}")
    print(f"  uint8 -> float32, numpy (per image) {ms(lambda a: a.astype(np.float32), [u8] * 20) / len(u8):.3f}")


if __name__ == "__main__":
    main()
