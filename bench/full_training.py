"""bench/gpu.py's full-training rows: our Trainer.fit reading the resized store (the CPU decoder in loader
workers, or DALI's nvJPEG on the device) against the plain recipe a user would write instead (torchvision
ImageFolder + PIL RandomCrop/RandomHorizontalFlip/ToTensor/Normalize + a DataLoader with the same number of
workers, fp32, a plain loop), on the same 256x256 images, the same net and batch, in the same run.

Each row is {"images_per_s", "data_wait_frac"}: the rate over the timed steps, and the share of that time the
host spent waiting for the next batch (training/callbacks.py's Throughput defines it for our row; the plain
loop measures the same interval, the loader's next(), itself).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from loader import make_images, write_imagefolder, write_store  # bench/loader.py, beside this file
from omegaconf import OmegaConf
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from alexnet_repro.basics import PROJECT_ROOT
from alexnet_repro.data.config import DataConfig
from alexnet_repro.data.datamodule import StoreDataModule
from alexnet_repro.models import AlexNetConfig
from alexnet_repro.schema import validate
from alexnet_repro.training.callbacks import Throughput
from alexnet_repro.training.config import AugmentConfig, OptimConfig, TrainConfig, TrainerConfig
from alexnet_repro.training.fit import speed_up, uses_cuda
from alexnet_repro.training.module import AlexNetModule
from alexnet_repro.transforms import EvalPreset, Normalization, TrainPreset

# The paper's optimiser (conf/optim/sgd.yaml) with a constant rate: a benchmark times steps, not a schedule.
SGD_YAML = OmegaConf.to_container(OmegaConf.load(PROJECT_ROOT / "conf" / "optim" / "sgd.yaml"))
OPTIM = OptimConfig(**{**{k: v for k, v in SGD_YAML.items() if k != "defaults"}, "schedule": "step"})


def prepare(folder: Path, images: int, content: str) -> tuple[Path, Path]:
    """The same images twice: as our store (JPEG shards) and as an ImageFolder of JPEG files."""
    decoded = make_images(images, content)
    write_store(folder / "store", decoded, "jpeg")
    write_imagefolder(folder / "imagefolder", decoded)
    return folder / "store", folder / "imagefolder"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timer(L.Callback):
    """Images/s over the steps after the warm-up, with the device's queue drained at both ends."""

    def __init__(self, warmup: int):
        self.warmup, self.images, self.start, self.end = warmup, 0, 0.0, 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.warmup:
            synchronize(module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step > self.warmup:
            self.images += len(batch[1])
            if trainer.global_step == trainer.max_steps:
                synchronize(module.device)
                self.end = time.perf_counter()

    def rate(self) -> float:
        return self.images / (self.end - self.start)


def gpu_preset(device: torch.device) -> TrainerConfig:
    """conf/trainer/gpu.yaml as `trainer=gpu` composes it (bf16-mixed, channels_last, ...), so these rows follow
    the preset when it changes; on a CPU (the smoke test) with accelerator=cpu, the rest unchanged."""
    from hydra import compose, initialize_config_dir

    overrides = ["trainer=gpu", "logger=none"] + ([] if device.type == "cuda" else ["trainer.accelerator=cpu"])
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        return validate(compose(config_name="train", overrides=overrides), TrainConfig).trainer


def trainer_fit(store: Path, args, device: torch.device, decoder: str, workers: int | str) -> dict:
    """What `python src/train.py trainer=gpu data.decoder=... data.workers=...` runs per step: our DataModule,
    presets (PCA lighting, mean image, random patch, mirror on the device), module, and the trainer settings of
    the `gpu` preset applied as training/fit.py applies them (speed_up, cuDNN's benchmark)."""
    rng = np.random.default_rng(0)
    a = AugmentConfig(random_crop=True, flip=True, lighting_std=0.1, lighting_sqrt_eigenvalues=False, mean="image",
                      input_scale=1.0)
    norm = Normalization(a.mean, a.input_scale,
                         rng.random((256, 256, 3)).astype(np.float32), np.full(3, 0.5, np.float32))
    preset = TrainPreset(norm, args.input, np.array([0.2, 0.02, 0.005], np.float32), np.eye(3, dtype=np.float32), a)
    settings = DataConfig(store_dir=str(store), batch_size=args.batch, workers=workers, decoder=decoder,
                          minival_per_class=1)  # the loader settings StoreDataModule reads; minival is not timed
    data = StoreDataModule(settings, preset, EvalPreset(norm, args.input), seed=0)
    torch.manual_seed(0)
    config = AlexNetConfig(num_classes=args.classes, width=args.width, init="kaiming", input_size=args.input)
    t = gpu_preset(device)
    module = AlexNetModule(asdict(config), OPTIM, channels_last=t.channels_last)
    speed_up(module, t)
    timer, throughput = Timer(args.warmup), Throughput()
    trainer = L.Trainer(accelerator=t.accelerator, devices=1, precision=t.precision,
                        benchmark=uses_cuda(t) and not t.deterministic, max_steps=args.warmup + args.steps,
                        limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False,
                        callbacks=[timer, throughput])
    trainer.fit(module, datamodule=data)
    # Throughput logs at the epoch's end (max_steps ends it): its wait counts the warm-up steps too, where the
    # loader's first batches (workers starting) are slowest, so it is an upper bound for the timed steps.
    wait = trainer.callback_metrics.get("train/data_wait_frac")
    return {"images_per_s": timer.rate(), "data_wait_frac": None if wait is None else float(wait),
            "precision": t.precision, "channels_last": t.channels_last, "compile": t.compile}


def plain_recipe(folder: Path, args, device: torch.device, workers: int) -> dict:
    """The recipe of torchvision's tutorials: PIL decode and transforms in the workers, fp32, a plain loop."""
    tv = transforms.Compose([transforms.RandomCrop(args.input), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    loader = DataLoader(datasets.ImageFolder(str(folder), tv), batch_size=args.batch, shuffle=True, drop_last=True,
                        num_workers=workers, pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    torch.manual_seed(0)
    config = AlexNetConfig(num_classes=args.classes, width=args.width, init="kaiming", input_size=args.input)
    net = AlexNetModule(asdict(config), OPTIM).net.to(device).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    done, images, start, waiting = 0, 0, 0.0, 0.0
    while done < args.warmup + args.steps:
        fetch = time.perf_counter()
        for x, y in loader:
            if done == args.warmup:
                synchronize(device)
                start = time.perf_counter()
            elif done > args.warmup:
                waiting += time.perf_counter() - fetch  # the loader's next(): what Throughput counts as wait
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            images += len(y) if done >= args.warmup else 0
            done += 1
            if done == args.warmup + args.steps:
                break
            fetch = time.perf_counter()
    synchronize(device)
    seconds = time.perf_counter() - start
    return {"images_per_s": images / seconds, "data_wait_frac": min(waiting / seconds, 1.0), "precision": "32-true",
            "channels_last": False, "compile": False}
