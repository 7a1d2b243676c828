"""Section 4.1's test procedure: softmax over the centre patch, or averaged over the ten patches (four corners,
centre, and their reflections); an ensemble averages the softmax of several nets (Table 2's "5 CNNs")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from alexnet_repro.training import batch_transforms as T
from alexnet_repro.training.module import AlexNetModule

MODES = ("center", "ten_crop")


class CheckpointError(ValueError):
    pass


def load_module(path: str | Path, device: torch.device) -> AlexNetModule:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist: train this experiment first")
    try:
        module = AlexNetModule.load_from_checkpoint(path, map_location=device, weights_only=False)
    except (KeyError, RuntimeError, TypeError) as err:
        raise CheckpointError(f"{path} is not a checkpoint of this project's AlexNet ({err})") from None
    return module.eval().to(device)


def softmax_over_patches(module: AlexNetModule, images: torch.Tensor, mode: str) -> torch.Tensor:
    """uint8 (B, 3, 256, 256) on the device -> class probabilities (B, classes)."""
    size = module.net.spec.input_size
    x = module.normalize(images, train=False)
    if mode == "center":
        return module.net(T.center_crop(x, size).contiguous()).softmax(-1)
    if mode == "ten_crop":
        patches = T.ten_crop(x, size)  # (B, 10, 3, size, size)
        probs = module.net(patches.flatten(0, 1).contiguous()).softmax(-1)
        return probs.view(len(images), 10, -1).mean(1)
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


@torch.inference_mode()
def predict(modules: list[AlexNetModule], loader: DataLoader, mode: str, device: torch.device,
            progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Averaged softmax of all modules over a loader: (probabilities (N, C), labels (N,))."""
    probs, labels = [], []
    for images, y in tqdm(loader, desc=f"evaluate {mode} x{len(modules)}", unit="batch", disable=not progress):
        images = images.to(device, non_blocking=True)
        p = torch.stack([softmax_over_patches(m, images, mode) for m in modules]).mean(0)
        probs.append(p.float().cpu())
        labels.append(y)
    return torch.cat(probs).numpy(), torch.cat(labels).numpy()


@torch.inference_mode()
def fc7_features(module: AlexNetModule, loader: DataLoader, device: torch.device) -> np.ndarray:
    """The 4096-d fc7 activations of the centre patch (Figure 4's nearest-neighbour space)."""
    out = []
    for images, _ in loader:
        x = T.center_crop(module.normalize(images.to(device), train=False), module.net.spec.input_size)
        out.append(module.net.forward_features(x.contiguous()).half().cpu())
    return torch.cat(out).numpy()


def top5(probs: np.ndarray) -> np.ndarray:
    return np.argsort(-probs, axis=1, kind="stable")[:, :5]


def error_rates(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    best = top5(probs)
    return {"err_top1": float(np.mean(best[:, 0] != labels)),
            "err_top5": float(np.mean(~(best == labels[:, None]).any(1)))}
