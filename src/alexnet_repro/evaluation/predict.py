"""Section 4.1's test procedure: softmax over the centre patch, or averaged over the ten patches (four corners,
centre, and their reflections); an ensemble averages the softmax of several nets (Table 2's "5 CNNs")."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from alexnet_repro.export import ExportedModel
from alexnet_repro.results import MODES


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """Patches laid out as the net's weights are (load_matching): on a CPU, max-pooling a channels-first tensor
    took as long as the convolutions (bench/embedded_step.py measured 14 ms against 1.3 ms for pool1)."""
    return x.contiguous(memory_format=torch.channels_last)


def softmax_over_patches(model: ExportedModel, images: torch.Tensor, modes=MODES) -> dict[str, torch.Tensor]:
    """uint8 (B, 3, 256, 256) on the device -> {mode: class probabilities (B, classes)}. The centre patch is
    the fifth of the ten, so asking for both costs one ten-patch pass."""
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"modes must be among {MODES}, got {sorted(unknown)}")
    if "ten_crop" not in modes:
        return {"center": model.net(channels_last(model.preset(images))).softmax(-1)}
    patches = model.preset(images, ten=True)  # (B, 10, 3, size, size); patch 4 is the centre
    probs = model.net(channels_last(patches.flatten(0, 1))).softmax(-1).view(len(images), 10, -1)
    out = {"ten_crop": probs.mean(1)}
    if "center" in modes:
        out["center"] = probs[:, 4]
    return out


@torch.inference_mode()
def predict(models: list[ExportedModel], loader: DataLoader, modes, device: torch.device,
            progress: bool = True) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Averaged softmax of all models over a loader: ({mode: probabilities (N, C)}, labels (N,))."""
    probs: dict[str, list] = {m: [] for m in modes}
    labels = []
    for images, y in tqdm(loader, desc=f"evaluate x{len(models)}", unit="batch", disable=not progress):
        images = images.to(device, non_blocking=True)
        per_model = [softmax_over_patches(m, images, modes) for m in models]
        for mode in modes:
            probs[mode].append(torch.stack([p[mode] for p in per_model]).mean(0).float().cpu())
        labels.append(y)
    return {m: torch.cat(p).numpy() for m, p in probs.items()}, torch.cat(labels).numpy()


@torch.inference_mode()
def fc7_features(model: ExportedModel, loader: DataLoader, device: torch.device) -> np.ndarray:
    """The 4096-d fc7 activations of the centre patch (Figure 4's nearest-neighbour space)."""
    out = []
    for images, _ in loader:
        features = model.net.forward_features(channels_last(model.preset(images.to(device))))
        out.append(model.net.forward_head(features, pre_logits=True).half().cpu())
    return torch.cat(out).numpy()


def top5(probs: np.ndarray) -> np.ndarray:
    return np.argsort(-probs, axis=1, kind="stable")[:, :5]


def error_rates(top5_classes: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """top5_classes: (N, 5) class indices, best first."""
    return {"err_top1": float(np.mean(top5_classes[:, 0] != labels)),
            "err_top5": float(np.mean(~(top5_classes == labels[:, None]).any(1)))}
