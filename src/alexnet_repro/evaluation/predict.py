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


def softmax_over_patches(module: AlexNetModule, images: torch.Tensor, modes=MODES) -> dict[str, torch.Tensor]:
    """uint8 (B, 3, 256, 256) on the device -> {mode: class probabilities (B, classes)}. The centre patch is
    the fifth of the ten, so asking for both costs one ten-patch pass."""
    size = module.net.spec.input_size
    x = module.normalize(images, train=False)
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"modes must be among {MODES}, got {sorted(unknown)}")
    if "ten_crop" not in modes:
        return {"center": module.net(T.center_crop(x, size).contiguous()).softmax(-1)}
    patches = T.ten_crop(x, size)  # (B, 10, 3, size, size); patch 4 is the centre
    probs = module.net(patches.flatten(0, 1).contiguous()).softmax(-1).view(len(images), 10, -1)
    out = {"ten_crop": probs.mean(1)}
    if "center" in modes:
        out["center"] = probs[:, 4]
    return out


@torch.inference_mode()
def predict(modules: list[AlexNetModule], loader: DataLoader, modes, device: torch.device,
            progress: bool = True) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Averaged softmax of all modules over a loader: ({mode: probabilities (N, C)}, labels (N,))."""
    probs: dict[str, list] = {m: [] for m in modes}
    labels = []
    for images, y in tqdm(loader, desc=f"evaluate x{len(modules)}", unit="batch", disable=not progress):
        images = images.to(device, non_blocking=True)
        per_module = [softmax_over_patches(m, images, modes) for m in modules]
        for mode in modes:
            probs[mode].append(torch.stack([p[mode] for p in per_module]).mean(0).float().cpu())
        labels.append(y)
    return {m: torch.cat(p).numpy() for m, p in probs.items()}, torch.cat(labels).numpy()


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
