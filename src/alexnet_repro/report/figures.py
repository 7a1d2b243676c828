"""The report's figures, as PNG files: curves, seed strips, Figure 1 (ReLU/tanh), Figure 3, Figure 4, deltas."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from alexnet_repro import results as R  # noqa: E402
from alexnet_repro.viz import filter_grid  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def training_curves(histories: dict[str, list[dict[str, list[float]]]], path: Path) -> Path:
    """Training and minival top-1 error per epoch; one colour per experiment, one thin line per seed."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for name, seeds in histories.items():
        color = None
        for i, h in enumerate(seeds):
            epochs = np.arange(1, len(h[R.TRAIN_ERR_TOP1]) + 1)
            line, = axes[0].plot(epochs, h[R.TRAIN_ERR_TOP1], color=color, lw=1, label=name if i == 0 else None)
            color = line.get_color()
            axes[1].plot(epochs, h[R.SELECTION_ERR_TOP1], color=color, lw=1, label=name if i == 0 else None)
    titles = ("training top-1 error", f"{R.SELECTION} top-1 error (centre crop; held out from training)")
    for ax, title in zip(axes, titles):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("error rate")
    axes[1].legend(fontsize=8)
    return _save(fig, path)


def seed_strip(rows: list[tuple[str, list[float]]], path: Path, xlabel: str) -> Path:
    """rows: (experiment, each seed's error in %): a dot per seed and a bar at their mean, one row each."""
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.45 * len(rows)))
    for y, (_, values) in enumerate(rows):
        offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(values, y + offsets, s=22, color="tab:blue", zorder=3, label="one seed" if y == 0 else None)
        ax.plot([np.mean(values)] * 2, [y - 0.3, y + 0.3], color="black", lw=2, label="mean" if y == 0 else None)
    ax.set_yticks(np.arange(len(rows)), [r[0] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)


def relu_vs_tanh(relu: tuple[str, list[dict]], tanh: tuple[str, list[dict]], threshold: float, path: Path) -> Path:
    """The paper's Figure 1: training error against steps, ReLU solid and tanh dashed, one line per seed;
    relu and tanh are (label, histories)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for (name, histories), style, color in ((relu, "-", "tab:blue"), (tanh, "--", "black")):
        for i, h in enumerate(histories):
            ax.plot(h["step"], h[R.TRAIN_ERR_TOP1], style, color=color, lw=1, label=name if i == 0 else None)
    ax.axhline(threshold, color="grey", lw=0.8)
    ax.text(0.99, threshold, f"level {threshold:.0%}", va="bottom", ha="right", color="grey",
            transform=ax.get_yaxis_transform())
    ax.set_xlabel("training steps (SGD iterations)")
    ax.set_ylabel("training top-1 error")
    ax.set_title("ReLU vs tanh (the paper's Figure 1)")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def ratio_curve(points: list[tuple[float, float, str]], paper_point: tuple[float, float] | None, path: Path) -> Path:
    """points: (training-error level, tanh/ReLU steps, relation): filled where exact, open where a bound;
    paper_point: the paper's (level, ratio), drawn only where the claim is testable on this run."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    exact = [(x, y) for x, y, rel in points if rel == "="]
    bound = [(x, y) for x, y, rel in points if rel != "="]
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], color="tab:blue", lw=1)
    if exact:
        ax.scatter(*zip(*exact), color="tab:blue", zorder=3, label="ratio")
    if bound:
        ax.scatter(*zip(*bound), facecolors="none", edgecolors="tab:blue", zorder=3,
                   label="bound (a net stopped short)")
    if paper_point is not None:
        ax.scatter([paper_point[0]], [paper_point[1]], marker="x", color="red", label="paper (CIFAR-10)")
    ax.axhline(1, color="grey", lw=0.8)
    ax.set_xlabel("training top-1 error level")
    ax.set_ylabel("tanh steps / ReLU steps")
    ax.invert_xaxis()  # training moves from high error to low
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def conv1_kernels(weight: np.ndarray, towers: int, path: Path) -> Path:
    grids = filter_grid(torch.from_numpy(weight), towers)
    fig, axes = plt.subplots(1, len(grids), figsize=(5 * len(grids), 4), squeeze=False)
    for i, (ax, grid) in enumerate(zip(axes[0], grids)):
        ax.imshow(grid, interpolation="nearest")
        ax.set_title(f"tower {i + 1}" if towers > 1 else "conv1")
        ax.axis("off")
    return _save(fig, path)


def nearest_neighbours(queries: list[tuple[np.ndarray, str]], neighbours: list[list[np.ndarray]], path: Path) -> Path:
    """Figure 4: each row a validation image with its top-5 predictions, then its nearest training images
    by Euclidean distance between fc7 activations."""
    rows, cols = len(queries), 2 + max(len(n) for n in neighbours)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.0 * rows), squeeze=False,
                             gridspec_kw={"width_ratios": [1.6] + [1] * (cols - 1)})
    for r, ((image, caption), near) in enumerate(zip(queries, neighbours)):
        axes[r][0].text(0, 0.5, caption, fontsize=7, va="center", ha="left", family="monospace")
        axes[r][1].imshow(image)
        for c, n in enumerate(near, start=2):
            axes[r][c].imshow(n)
        for ax in axes[r]:
            ax.axis("off")
    axes[0][1].set_title("validation", fontsize=8)
    for c in range(2, cols):
        axes[0][c].set_title(f"neighbour {c - 1}", fontsize=8)
    return _save(fig, path)


def ablation_deltas(rows: list[tuple[str, float, float, float, float | None]], path: Path) -> Path:
    """rows: (experiment, delta, low, high, paper delta or None), in percentage points of top-1 error."""
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.55 * len(rows)))
    y = np.arange(len(rows))
    deltas = np.array([r[1] for r in rows])
    err = np.array([[r[1] - r[2], r[3] - r[1]] for r in rows]).T
    ax.errorbar(deltas, y, xerr=err, fmt="o", capsize=4, label="ours, 95% CI")
    paper = [(i, r[4]) for i, r in enumerate(rows) if r[4] is not None]
    if paper:
        ax.scatter([p[1] for p in paper], [p[0] for p in paper], marker="x", color="red", label="paper")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, [r[0] for r in rows])
    ax.set_xlabel("change in top-1 error vs baseline (percentage points; > 0: removing the feature hurts)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)
