"""Loader throughput per core: our store loader (shards, simplejpeg decode, uint8) plus the crop, flip and
normalisation it leaves to the device (run here on the CPU, so the comparison is whole), against torchvision
ImageFolder + PIL + RandomCrop/RandomHorizontalFlip/ToTensor/Normalize on the same 256x256 images. Both with
num_workers=0 (one core) in the same run; both store encodings are measured. Target: >= 3x.

    python bench/loader.py [--images 1000] [--content photo|generated]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from photos import photographs  # bench/photos.py, beside this file
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from alexnet_repro import transforms as T
from alexnet_repro.data.dataset import StoreDataset, collate_channels_last
from alexnet_repro.data.store import encode_image, write_index, write_shard
from alexnet_repro.training.config import AugmentConfig


def make_images(n: int, content: str) -> list[np.ndarray]:
    """n 256x256 images, resized from photographs (bench/photos.py) or from generated images."""
    import io

    from alexnet_repro.data.generate import encode, render
    from alexnet_repro.data.resize import resize_center

    if content == "photo":
        files = photographs(n)
    else:
        rng = np.random.default_rng(0)
        files = [encode(render(i % 10, rng), "rgb", 90) for i in range(n)]
    return [resize_center(io.BytesIO(data)) for data in files]


def write_imagefolder(root: Path, images) -> None:
    for i, im in enumerate(images):
        folder = root / f"c{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(folder / f"{i}.JPEG", quality=90)


def write_store(root: Path, images, encoding: str) -> None:
    root.mkdir(parents=True)
    records = [(f"{i}.JPEG", i % 10, encode_image(im, encoding, 90)) for i, im in enumerate(images)]
    write_shard(root, "train-00000", records)
    digest = json.loads((root / "train-00000.json").read_text())["sha256"]
    write_index(root, {"encoding": encoding, "image_size": 256, "quality": 90,
                       "classes": [{"wnid": f"c{i}", "words": ""} for i in range(10)],
                       "splits": {"train": {"shards": ["train-00000"], "count": len(images), "digests": [digest]}}})


def rate(loader, per_batch=lambda x: x) -> float:
    start, n = time.perf_counter(), 0
    for images, labels in loader:
        per_batch(images)
        n += len(labels)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--content", choices=("photo", "generated"), default="photo")
    args = parser.parse_args()
    torch.set_num_threads(1)
    images = make_images(args.images, args.content)
    rng = np.random.default_rng(0)
    # What training does on the device (transforms.TrainPreset: patch, reflection, mean image, scale; no PCA
    # lighting, which the torchvision recipe does not have either), here on this one CPU core.
    a = AugmentConfig(random_crop=True, flip=True, lighting_std=0.0, lighting_sqrt_eigenvalues=False, mean="image",
                      input_scale=4.0)
    norm = T.Normalization(a.mean, a.input_scale,
                           rng.random((256, 256, 3), dtype=np.float32), np.full(3, 0.5, np.float32))
    device_side = T.TrainPreset(norm, 227, np.ones(3, np.float32), np.eye(3, dtype=np.float32), a)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_imagefolder(tmp / "folder", images)
        write_store(tmp / "jpeg", images, "jpeg")
        write_store(tmp / "raw", images, "raw")
        tv = transforms.Compose([transforms.RandomCrop(227), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                                 transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
        baseline = DataLoader(datasets.ImageFolder(str(tmp / "folder"), tv), batch_size=64, shuffle=True)
        sizes = {k: sum(f.stat().st_size for f in (tmp / k).rglob("*") if f.is_file()) / 1e6
                 for k in ("folder", "jpeg", "raw")}
        rows = {"torchvision ImageFolder + PIL + transforms": ("folder", None),
                "ours, jpeg shards: loader": ("jpeg", False), "ours, raw shards: loader": ("raw", False),
                "ours, jpeg shards: loader + transforms": ("jpeg", True),
                "ours, raw shards: loader + transforms": ("raw", True)}
        results = {name: [] for name in rows}
        for _ in range(3):
            for name, (kind, transforms_too) in rows.items():
                if kind == "folder":
                    results[name].append(rate(baseline))
                else:
                    loader = DataLoader(StoreDataset(str(tmp / kind), "train"), batch_size=64, shuffle=True,
                                        collate_fn=collate_channels_last)
                    results[name].append(rate(loader, device_side if transforms_too else (lambda x: x)))
        base = max(results["torchvision ImageFolder + PIL + transforms"])
        print(f"{args.images} images of 256x256 ({args.content} content), one core (num_workers=0, 1 torch thread), "
              "best of 3")
        print("'loader': what the loader's cores do when a GPU trains; '+ transforms': also the crop, flip,")
        print("mean subtraction and scaling that run on the training device, here on this CPU core")
        for name, (kind, _) in rows.items():
            print(f"{name:44s} {max(results[name]):8.1f} images/s  {max(results[name]) / base:5.2f}x"
                  f"   on disk {sizes[kind]:6.1f} MB")


if __name__ == "__main__":
    main()
