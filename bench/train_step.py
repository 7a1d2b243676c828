"""Lightning's fit against a plain PyTorch loop: same model, optimiser, on-device transforms and batches
(already in memory), measured in one run. Target: Lightning >= 0.95x the plain loop's images/s.

    python bench/train_step.py [--width 0.25] [--batch 32] [--steps 30] [--full]

--full also measures the full-width net (the paper's 60.9M parameters) at batch 128, for the README.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from alexnet_repro.basics import PROJECT_ROOT
from alexnet_repro.models import AlexNetConfig
from alexnet_repro.training.config import AugmentConfig, OptimConfig
from alexnet_repro.training.module import AlexNetModule
from alexnet_repro.transforms import Normalization, TrainPreset

# The paper's optimiser (conf/optim/sgd.yaml) with a constant rate: a benchmark times steps, not a schedule.
SGD_YAML = OmegaConf.to_container(OmegaConf.load(PROJECT_ROOT / "conf" / "optim" / "sgd.yaml"))
OPTIM = OptimConfig(**{**{k: v for k, v in SGD_YAML.items() if k != "defaults"}, "schedule": "step"})


def batches(n: int, batch: int, classes: int = 10):
    g = torch.Generator().manual_seed(0)
    return [(torch.randint(0, 256, (batch, 3, 256, 256), dtype=torch.uint8, generator=g),
             torch.randint(0, classes, (batch,), generator=g)) for _ in range(n)]


def make_module(width: float) -> AlexNetModule:
    torch.manual_seed(0)
    return AlexNetModule(asdict(AlexNetConfig(num_classes=10, width=width, init="kaiming")), OPTIM)


def make_preset() -> TrainPreset:
    """The embedded profile's training preset: PCA lighting, mean image, random crop and mirror."""
    rng = np.random.default_rng(0)
    a = AugmentConfig(random_crop=True, flip=True, lighting_std=0.1, lighting_sqrt_eigenvalues=False, mean="image",
                      input_scale=4.0)
    norm = Normalization(a.mean, a.input_scale,
                         rng.random((256, 256, 3)).astype(np.float32), np.full(3, 0.5, np.float32))
    return TrainPreset(norm, 227, np.array([0.2, 0.02, 0.005], np.float32), np.eye(3, dtype=np.float32), a)


class InMemoryData(L.LightningDataModule):
    """The same batches, with the preset applied where the project's DataModule applies it."""

    def __init__(self, data, preset: TrainPreset):
        super().__init__()
        self.data, self.preset = data, preset

    def train_dataloader(self):
        return DataLoader(self.data, batch_size=None)

    def on_after_batch_transfer(self, batch, dataloader_idx: int = 0):
        images, labels = batch
        return self.preset(images), labels


def plain_loop(module: AlexNetModule, data, warmup: int) -> float:
    """What a careful hand-written loop does: transforms, forward, loss, backward, SGD step."""
    opt = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    module.train()
    preset = make_preset()

    def step(images, labels):
        x = preset(images)
        loss = F.cross_entropy(module.net(x), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for images, labels in data[:warmup]:
        step(images, labels)
    start = time.perf_counter()
    for images, labels in data[warmup:]:
        step(images, labels)
    return sum(len(y) for _, y in data[warmup:]) / (time.perf_counter() - start)


class StepTimer(L.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.start, self.images = warmup, 0.0, 0
        self.end = 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if batch_idx >= self.warmup:
            self.images += len(batch[1])
            self.end = time.perf_counter()


def lightning_fit(module: AlexNetModule, data, warmup: int) -> float:
    timer = StepTimer(warmup)
    trainer = L.Trainer(accelerator="auto", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        callbacks=[timer], limit_val_batches=0)
    module.configure_optimizers = lambda: torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9,
                                                          weight_decay=5e-4)
    trainer.fit(module, datamodule=InMemoryData(data, make_preset()))  # the same in-memory batches
    return timer.images / (timer.end - timer.start)


def measure(width: float, batch: int, steps: int, warmup: int = 3, repeats: int = 3) -> tuple[float, float]:
    data = batches(steps + warmup, batch)
    plain, light = [], []
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits both alike
        plain.append(plain_loop(make_module(width), data, warmup))
        light.append(lightning_fit(make_module(width), data, warmup))
    return max(plain), max(light)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
    plain, light = measure(args.width, args.batch, args.steps)
    print(f"device: {device}; width {args.width}, batch {args.batch}, {args.steps} timed steps, best of 3")
    print(f"plain PyTorch loop : {plain:8.1f} images/s")
    print(f"Lightning fit      : {light:8.1f} images/s")
    print(f"ratio Lightning / plain = {light / plain:.3f}  (target >= 0.95)")
    if args.full:
        plain_full, light_full = measure(1.0, 128, 3, warmup=1, repeats=1)
        print(f"full-width AlexNet, batch 128: plain {plain_full:.1f} images/s, Lightning {light_full:.1f} images/s")


if __name__ == "__main__":
    main()
