"""One training step of the embedded profile on a CPU: today's step (commit 735759b: channels first, the LRN by
autograd through its pad, running sum, pow and division) against the improved one (models/lrn.py's window sum of
n slices and hand-written backward; channels last, conf/trainer/default.yaml), and the new LRN alone (channels
first), measured interleaved in one process, with the instruction set it ran on.

    python bench/embedded_step.py [--threads N] [--repeats 9] [--steps 6] [--layers]

--layers also prints each layer's forward and backward time, today's step against the improved one (tensor
hooks around every layer; conv1's backward has no input gradient to hook and is counted in the total only).

The step is the embedded profile's (conf/profile/embedded.yaml): width 0.25, 10 classes, batch 32 of uint8
128-pixel images, TrainPreset (PCA lighting, mean image, random 115-pixel patch, mirror; numpy on a CPU), forward,
cross-entropy, backward, SGD with momentum and weight decay. To emulate a CPU without AVX-512 on one that has it:

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python bench/embedded_step.py

(torch's own kernels, oneDNN's convolutions and MKL's matrix products respectively.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alexnet_repro.models.alexnet import AlexNet
from alexnet_repro.models.lrn import TowerLRN
from alexnet_repro.models.spec import AlexNetConfig
from alexnet_repro.training.config import AugmentConfig
from alexnet_repro.training.module import decay_groups
from alexnet_repro.transforms import Normalization, TrainPreset


class TodayLRN(TowerLRN):
    """models/lrn.py's TowerLRN as of 735759b: S by a running sum (pad, cumsum, differences), autograd's backward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        a = x.reshape(b * self.towers, c // self.towers, h, w)
        squares = F.pad(a * a, (0, 0, 0, 0, self.size // 2 + 1, (self.size - 1) // 2))
        running = squares.cumsum(1)
        window = running[:, self.size :] - running[:, : -self.size]
        return (a / (self.k + self.scale * window).pow(self.beta)).reshape(x.shape)


def isa() -> str:
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    cpu = {f: f in flags for f in ("avx2", "avx512f")}
    env = {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
           if k in os.environ}
    return (f"torch kernels: {torch.backends.cpu.get_cpu_capability()}; CPU flags: "
            + ", ".join(f"{f} {'yes' if v else 'no'}" for f, v in cpu.items())
            + (f"; limits: {env}" if env else "; no ISA limits set"))


def make_net(today: bool, channels_last: bool) -> nn.Module:
    torch.manual_seed(0)
    net = AlexNet(AlexNetConfig(num_classes=10, width=0.25, init="kaiming", input_size=115))
    if today:
        for site in ("norm1", "norm2"):
            old = getattr(net.features, site)
            setattr(net.features, site, TodayLRN(old.towers, old.size, old.scale, old.beta, old.k, alpha_over_n=False))
    return net.to(memory_format=torch.channels_last) if channels_last else net


def make_preset() -> TrainPreset:
    rng = np.random.default_rng(0)
    a = AugmentConfig(random_crop=True, flip=True, lighting_std=0.1, lighting_sqrt_eigenvalues=False, mean="image",
                      input_scale=4.0)
    norm = Normalization(a.mean, a.input_scale,
                         rng.random((128, 128, 3)).astype(np.float32), np.full(3, 0.5, np.float32))
    return TrainPreset(norm, 115, np.array([0.2, 0.02, 0.005], np.float32), np.eye(3, dtype=np.float32), a)


class Step:
    def __init__(self, today: bool, channels_last: bool = False):
        self.net, self.channels_last = make_net(today, channels_last), channels_last
        self.opt = torch.optim.SGD(decay_groups(self.net, 5e-4, True), lr=0.01, momentum=0.9)
        self.preset = make_preset()

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        x = self.preset(images)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(self.net(x), labels)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


def images_per_s(step: Step, data) -> float:
    start = time.perf_counter()
    for images, labels in data:
        step(images, labels)
    return sum(len(y) for _, y in data) / (time.perf_counter() - start)


def layer_times(step: Step, data, repeats: int = 3) -> tuple[dict[str, float], dict[str, float], float]:
    """Median forward and backward milliseconds per layer of step.net, and of the whole step, over the batches."""
    fwd: dict[str, list[float]] = {}
    bwd: dict[str, list[float]] = {}
    marks: dict[str, float] = {}

    def ended(name):
        bwd.setdefault(name, []).append(time.perf_counter() - marks[name + "/"])

    def before(name):  # marks[name + "/"]: when the gradient of name's output arrived
        def hook(_, args):
            marks[name] = time.perf_counter()
            if args[0].requires_grad:  # fires when name's input gradient is done: name's backward has ended
                args[0].register_hook(lambda g: ended(name))
        return hook

    def after(name):
        def hook(_, args, out):
            fwd.setdefault(name, []).append(time.perf_counter() - marks[name])
            out.register_hook(lambda g: marks.__setitem__(name + "/", time.perf_counter()))
        return hook

    net = step.net
    layers = [*net.features.named_children(), *((n, getattr(net, n)) for n in ("fc6", "fc7", "fc8"))]
    handles = []
    for name, layer in layers:
        if isinstance(layer, nn.ReLU):
            continue  # in place: its input is its output
        handles += [layer.register_forward_pre_hook(before(name)), layer.register_forward_hook(after(name))]
    start = time.perf_counter()
    for _ in range(repeats):
        for images, labels in data:
            step(images, labels)
    total = (time.perf_counter() - start) / (repeats * len(data)) * 1000
    for h in handles:
        h.remove()
    med = lambda d: {k: statistics.median(v) * 1000 for k, v in d.items()}  # noqa: E731
    return med(fwd), med(bwd), total


def print_layers(variants: dict[str, Step], data) -> None:
    names = ["today (735759b)", "improved (channels last)"]
    results = {n: layer_times(variants[n], data) for n in names}
    print(f"per layer, ms per step (forward + backward), {names[0]} | {names[1]}:")
    for layer in results[names[0]][0]:
        cells = []
        for n in names:
            fwd, bwd, total = results[n]
            ms = fwd.get(layer, 0.0) + bwd.get(layer, 0.0)
            cells.append(f"{ms:7.2f} ({ms / total:5.1%})")
        print(f"  {layer:6s} {cells[0]} | {cells[1]}")
    print(f"  whole step (hooks on): {results[names[0]][2]:.1f} | {results[names[1]][2]:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=6, help="steps per timed block")
    parser.add_argument("--layers", action="store_true", help="also time each layer, today against improved")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    data = [(torch.randint(0, 256, (32, 3, 128, 128), dtype=torch.uint8, generator=g),
             torch.randint(0, 10, (32,), generator=g)) for _ in range(args.steps)]
    variants = {"today (735759b)": Step(today=True), "new LRN, channels first": Step(today=False),
                "improved (channels last)": Step(today=False, channels_last=True)}
    for step in variants.values():  # warm-up: oneDNN primitives, allocator
        images_per_s(step, data[:2])
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):  # interleaved, so drift on a shared machine hits every variant alike
        for name, step in variants.items():
            rates[name].append(images_per_s(step, data))
    print(f"ISA: {isa()}")
    print(f"threads: {torch.get_num_threads()}; embedded step (width 0.25, batch 32, 115 px), "
          f"{args.repeats} interleaved blocks of {args.steps} steps")
    today = statistics.median(rates["today (735759b)"])
    for name, r in rates.items():
        print(f"{name:25s}: median {statistics.median(r):7.1f} images/s (best {max(r):7.1f}); "
              f"ratio to today {statistics.median(r) / today:.3f}")
    if args.layers:
        print_layers(variants, data)


if __name__ == "__main__":
    main()
