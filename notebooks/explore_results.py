# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exploring a pipeline run
# Loads what `dvc repro` left in `results/` (metrics, per-image predictions, training histories, fc7
# features, conv1 kernels) and looks at it: curves, ablation deltas, filters, nearest neighbours.
# Run it from the repository root or from `notebooks/`; on the embedded dataset the numbers are not
# comparable to ImageNet.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from alexnet_repro import results
from alexnet_repro.data.store import ShardReader
from alexnet_repro.report.stats import paired_bootstrap
from alexnet_repro.viz import filter_grid

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
found, skipped = results.load_all(ROOT / "results")  # every ExperimentResult (results.py), nothing else
metrics = {name: r.metrics for name, r in found.items()}
print(f"{len(found)} experiments: {', '.join(found)}")

# %% [markdown]
# ## Error rates, centre crop and ten patches

# %%
print(f"{'experiment':18s} {'centre top-1':>12s} {'ten-crop top-1':>15s} {'ten-crop top-5':>15s}")
for name, m in metrics.items():
    print(f"{name:18s} {m['center']['err_top1']:12.3f} {m['ten_crop']['err_top1']:15.3f} {m['ten_crop']['err_top5']:15.3f}")

# %% [markdown]
# ## Training curves

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for name, r in found.items():
    h = r.runs[r.seeds[0]].history
    ax.plot(np.arange(1, len(h["val/err_top1"]) + 1), h["val/err_top1"], label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("validation top-1 error")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Ablation deltas against the baseline (paired bootstrap, 95%)

# %%
base1, _ = found["baseline"].errors("ten_crop")  # (seeds, images) 0/1 top-1 errors
deltas = {}
for name, r in found.items():
    if name != "baseline":
        e1, _ = r.errors("ten_crop")
        deltas[name] = paired_bootstrap(base1, e1, samples=500)
        d, lo, hi = deltas[name]
        print(f"{name:18s} {d * 100:+6.1f} points  [{lo * 100:+6.1f}, {hi * 100:+6.1f}]")

# %% [markdown]
# ## The baseline's conv1 kernels (the paper's Figure 3)

# %%
import torch

base = found["baseline"]
grids = filter_grid(torch.from_numpy(base.conv1), base.towers)
fig, axes = plt.subplots(1, len(grids), figsize=(10, 4), squeeze=False)
for i, (ax, grid) in enumerate(zip(axes[0], grids)):
    ax.imshow(grid, interpolation="nearest")
    ax.set_title(f"tower {i + 1}")
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Nearest training images in fc7 space (the paper's Figure 4)

# %%
feats = base.features
store = Path(base.runs[base.seeds[0]].config["data"]["store_dir"])  # the store the baseline trained on
val, train = ShardReader(store, "val"), ShardReader(store, "train")
train_pos = {n: i for i, n in enumerate(train.names)}
query = 0
dist = ((feats["train"].astype(np.float32) - feats["val"][query].astype(np.float32)) ** 2).sum(1)
nearest = np.argsort(dist)[:5]
fig, axes = plt.subplots(1, 6, figsize=(12, 2.4))
axes[0].imshow(val.image(query))
axes[0].set_title("validation image")
for ax, j in zip(axes[1:], nearest):
    ax.imshow(train.image(train_pos[str(feats["train_names"][j])]))
for ax in axes:
    ax.axis("off")
plt.show()
assert len(nearest) == min(5, len(feats["train"]))
