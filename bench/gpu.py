"""What each of the `gpu` trainer preset's switches buys, and what full training reaches: in one run and one
table, training-step images/s of the net alone (forward, loss, backward, SGD step on synthetic batches already
on the device) for fp32, bf16 autocast, bf16 + channels_last and bf16 + channels_last + torch.compile, with the
ratio to fp32; then full training from the resized store (our Trainer.fit with the CPU decoder, and with DALI
when CUDA and the dali extra are there) against the plain recipe (torchvision ImageFolder + PIL transforms,
the same workers, fp32, a plain loop: bench/full_training.py), with the ratio to it; model FLOPs utilisation
against a peak you give; the hardware and versions.

    python bench/gpu.py [--device cuda] [--width 1.0] [--input 227] [--batch 128[,256]] [--steps 50]
                        [--peak-tflops 989] [--compile-mode default] [--images 2048] [--content photo]
                        [--workers N] [--model-only | --training-only] [--store DIR] [--out DIR]

--out DIR writes model_only.json and training.json there, each rewritten after every row it measures, so a
run cut short still leaves the rows it had (bench/gpu_check.py, the first GPU run, reads them). --store DIR
reads a store and an ImageFolder made beforehand (DIR/store, DIR/imagefolder: bench/gpu_check.py's) instead
of making --images of them here. The training rows use the first --batch.

--device cpu --width 0.125 --input 67 --batch 8 --steps 3 --images 64 --content generated is the smoke test
(tests/test_gpu_path.py): every path that can run on a CPU starts and its numbers are finite.

FLOPs per training image: counted by torch.utils.flop_counter on one image of this very net (convolutions and
matmuls, forward and backward; elementwise ops, LRN's included, are not counted, as is usual for MFU). The
usual rule of thumb, 3 x 1.45 GFLOP = 4.35 GFLOP at full size, scaled by width^2 * (input/227)^2, is printed
beside it: it undercounts (4.35 against 4.96 counted at full size) because the grouped convs' and FC layers'
FLOPs do not scale exactly so.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning
import torch
import torch.nn.functional as F
from full_training import plain_recipe, prepare, synchronize, trainer_fit  # bench/full_training.py, beside it
from torch.utils.flop_counter import FlopCounterMode

from alexnet_repro.atomic import write_json
from alexnet_repro.data.datamodule import loader_workers
from alexnet_repro.models.alexnet import alexnet
from alexnet_repro.training.module import sgd_kernel

FULL_SIZE_GFLOP = 4.35  # per training image (3 x forward), the full-width net at 227 x 227
# Why DALI's row is empty on the device machine: its wheel cannot travel (docs/performance.md, "First GPU run").
DALI_TOO_BIG = ("nvidia-dali-cuda130 is not installed and its wheel cannot be carried to the device machine "
                "(476 MB installed, over the 64 MiB carry limit); pip install -e '.[dali]' where it can be")


@dataclass(frozen=True)
class Variant:
    name: str
    bf16: bool
    channels_last: bool
    compile: bool


VARIANTS = (Variant("fp32", False, False, False), Variant("bf16", True, False, False),
            Variant("bf16+channels_last", True, True, False), Variant("bf16+channels_last+compile", True, True, True))


def rule_of_thumb_gflop(width: float, size: int) -> float:
    """The approximation: conv FLOPs go with in x out channels (width^2) and with the feature map's area."""
    return FULL_SIZE_GFLOP * width**2 * (size / 227) ** 2


def counted_gflop(width: float, size: int, classes: int) -> float:
    """Forward + backward FLOPs of one training image, counted on the CPU."""
    net = alexnet(classes, width=width, init="kaiming", input_size=size)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(torch.randn(1, 3, size, size)), torch.zeros(1, dtype=torch.long)).backward()
    return counter.get_total_flops() / 1e9


def make_step(v: Variant, args, device: torch.device, batch: int) -> Callable[[], None]:
    """One training step of a fresh net under the variant's settings, as run.py and the module set them."""
    torch.manual_seed(0)
    net = alexnet(args.classes, width=args.width, init="kaiming", input_size=args.input).to(device).train()
    fmt = torch.channels_last if v.channels_last else torch.contiguous_format
    net.to(memory_format=fmt)
    if v.compile:
        net.compile(mode=args.compile_mode)
    params = list(net.parameters())
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4, **sgd_kernel(params))
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(batch, 3, args.input, args.input, device=device, generator=g)
    x = x.contiguous(memory_format=fmt)
    y = torch.randint(0, args.classes, (batch,), device=device, generator=g)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=v.bf16):
            loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{v.name}: loss {loss.item()}")

    return step


def images_per_s(step: Callable[[], None], batch: int, steps: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):  # compilation, cuDNN's algorithm search, the allocator's first blocks
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return batch * steps / (time.perf_counter() - start)


def hardware(device: torch.device) -> str:
    versions = f"torch {torch.__version__}, lightning {lightning.__version__}, python {platform.python_version()}"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return f"{name}; CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}; {versions}"
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; {versions}"


def batches(text: str) -> list[int]:
    return [int(b) for b in text.split(",")]


def mfu_pct(rate: float, gflop: float, peak_tflops: float) -> float:
    return rate * gflop / (peak_tflops * 1e3) * 100


class Report:
    """One JSON file under --out, rewritten whole (atomically) after each row: a run killed at its time limit
    leaves every row measured so far and "complete": false."""

    def __init__(self, out: str | None, name: str, **header):
        self.path = None if out is None else Path(out) / name
        self.data = {**header, "rows": [], "complete": False}
        self.write()

    def add(self, row: dict) -> None:
        self.data["rows"].append(row)
        self.write()

    def done(self) -> None:
        self.data["complete"] = True
        self.write()

    def write(self) -> None:
        if self.path is not None:
            write_json(self.path, self.data)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cuda (the default where there is one) or cpu")
    parser.add_argument("--width", type=float, default=1.0, help="model.width (1.0: the paper's net)")
    parser.add_argument("--input", type=int, default=227, help="model.input_size")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--batch", type=batches, default=[128],
                        help="images per step on the one device; several: 128,256 (training rows: the first)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="the device's dense bf16 peak for MFU (H100 SXM: 989; H200: 989; A100: 312)")
    parser.add_argument("--compile-mode", default="default", choices=["default", "reduce-overhead", "max-autotune"])
    parser.add_argument("--images", type=int, default=2048, help="images in the store the training rows read")
    parser.add_argument("--content", choices=("photo", "generated"), default="photo",
                        help="photo: bench/photos.py (pip install -e .[bench]); generated: decodes faster")
    parser.add_argument("--workers", type=int, default=None,
                        help="loader workers for both training rows (default: data.workers=auto for one device)")
    parser.add_argument("--model-only", action="store_true", help="skip the full-training rows")
    parser.add_argument("--training-only", action="store_true", help="skip the model-only rows")
    parser.add_argument("--store", default=None, help="a folder holding store/ and imagefolder/ made beforehand")
    parser.add_argument("--out", default=None, help="write model_only.json and training.json here")
    args = parser.parse_args(argv)
    if args.device is None:
        if not torch.cuda.is_available():  # the full-size rows on a CPU would run for many minutes, measuring nothing
            parser.error("no CUDA device here: this benchmark measures a GPU; --device cpu runs it on the CPU "
                         "(the smoke test's sizes: --width 0.125 --input 67 --batch 8 --steps 3 --images 64)")
        args.device = "cuda"
    return args


def training_rows(args, device: torch.device, gflop: float) -> None:
    # data.workers=auto (the node's cores less one, for one device) unless --workers; the plain recipe gets as
    # many workers, so the comparison is of what each does with the same cores.
    workers = loader_workers("auto", 1) if args.workers is None else args.workers
    setting = "auto" if args.workers is None else args.workers
    batch = args.batch[0]
    step = argparse.Namespace(**{**vars(args), "batch": batch})
    report = Report(args.out, "training.json", hardware=hardware(device), batch=batch, warmup=args.warmup,
                    steps=args.steps, workers=workers, workers_setting=setting, cores=len(os.sched_getaffinity(0)),
                    peak_tflops=args.peak_tflops, gflop_per_image=gflop, width=args.width, input=args.input)
    with tempfile.TemporaryDirectory() as tmp:
        if args.store is not None:
            store, folder = Path(args.store) / "store", Path(args.store) / "imagefolder"
            images = sum(len(files) for _, _, files in os.walk(folder))
        else:
            store, folder = prepare(Path(tmp), args.images, args.content)
            images = args.images
        print(f"full training, data from the store ({images} images at 256 px, {workers} loader workers), "
              f"batch {batch}, PCA lighting, mean image, random patch and mirror on the device")
        report.data["images"] = images
        rows = {}

        def measured(name: str, result: dict) -> None:
            rows[name] = result
            plain_rate = rows["train:plain-recipe,fp32"]["images_per_s"]
            report.add({"name": name, "run": True, **result, "vs_plain": result["images_per_s"] / plain_rate,
                        "mfu_pct": mfu_pct(result["images_per_s"], gflop, args.peak_tflops)})

        # The plain recipe first: every later row's ratio to it is known when that row is written.
        measured("train:plain-recipe,fp32", plain_recipe(folder, step, device, workers))
        measured("train:ours,cpu-decoder,bf16+cl", trainer_fit(store, step, device, "cpu", setting))
        if device.type == "cuda" and importlib.util.find_spec("nvidia.dali") is not None:
            measured("train:ours,dali-decoder,bf16+cl", trainer_fit(store, step, device, "dali", setting))
        else:
            why = "needs CUDA" if device.type != "cuda" else DALI_TOO_BIG
            print(f"train:ours,dali-decoder: not run ({why})")
            report.add({"name": "train:ours,dali-decoder,bf16+cl", "run": False, "why": why})
    plain = rows["train:plain-recipe,fp32"]["images_per_s"]
    print(f"{'training':<32}{'images/s':>12}{'vs plain':>10}{'MFU %':>9}")
    for name, row in rows.items():
        rate = row["images_per_s"]
        print(f"{name:<32}{rate:>12.1f}{rate / plain:>9.2f}x{mfu_pct(rate, gflop, args.peak_tflops):>9.3f}")
    print("data_wait_frac: " + ", ".join(f"{name.removeprefix('train:')} {row['data_wait_frac']:.3f}"
                                         for name, row in rows.items() if row["data_wait_frac"] is not None))
    report.done()


def model_rows(args, device: torch.device, gflop: float) -> None:
    report = Report(args.out, "model_only.json", hardware=hardware(device), width=args.width, input=args.input,
                    classes=args.classes, steps=args.steps, warmup=args.warmup, peak_tflops=args.peak_tflops,
                    gflop_per_image=gflop, rule_of_thumb_gflop=rule_of_thumb_gflop(args.width, args.input),
                    compile_mode=args.compile_mode)
    for batch in args.batch:
        print(f"batch {batch}: {args.steps} timed steps after {args.warmup} warm-up; synthetic batches on {device}")
        print(f"{'variant':<28}{'images/s':>12}{'vs fp32':>10}{'MFU %':>9}")
        base = None
        for v in VARIANTS:
            rate = images_per_s(make_step(v, args, device, batch), batch, args.steps, args.warmup, device)
            base = base or rate
            mfu = mfu_pct(rate, gflop, args.peak_tflops)
            print(f"{v.name:<28}{rate:>12.1f}{rate / base:>9.2f}x{mfu:>9.3f}")
            report.add({"variant": v.name, "batch": batch, "images_per_s": rate, "vs_fp32": rate / base,
                        "mfu_pct": mfu})
    report.done()


def main(argv=None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":  # what run.py sets for a CUDA run
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    gflop = counted_gflop(args.width, args.input, args.classes)
    print(f"hardware: {hardware(device)}")
    print(f"net: width {args.width}, input {args.input}, {args.classes} classes; batch {args.batch}")
    print(f"GFLOP per training image: {gflop:.4g} counted ({rule_of_thumb_gflop(args.width, args.input):.4g} by "
          f"4.35 x width^2 x (input/227)^2); MFU against {args.peak_tflops:g} TFLOP/s")
    if not args.training_only:
        model_rows(args, device, gflop)
    if not args.model_only:
        training_rows(args, device, gflop)


if __name__ == "__main__":
    main()
