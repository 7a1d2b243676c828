# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exploring a pipeline run
# Loads what `dvc repro` left in `results/` (metrics, per-image predictions, training histories, fc7
# features, conv1 kernels) and looks at it: curves, ablation deltas with the report's verdict rule, filters,
# nearest neighbours.
# Run it from the repository root or from `notebooks/`; on the embedded dataset the numbers are not
# comparable to ImageNet.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from hydra import compose, initialize_config_dir

import alexnet_repro.report.config  # noqa: F401  (registers the report config's schema for compose below)
from alexnet_repro import results
from alexnet_repro.cli import CONFIG_DIR
from alexnet_repro.data.store import ShardReader
from alexnet_repro.report import kernels, neighbours
from alexnet_repro.report.paper import ABLATIONS
from alexnet_repro.report.stats import ESTIMATOR_RULE, effect, verdict
from alexnet_repro.seeds import init_seed
from alexnet_repro.viz import filter_grid

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
found, skipped = results.load_all(ROOT / "results")  # every ExperimentResult (results.py), nothing else
if "baseline" not in found:  # a fresh clone: result.json is committed, its arrays (result.npz) are not
    raise SystemExit(f"{ROOT / 'results'} holds no baseline result with its arrays: run `make run` first")
metrics = {name: r.metrics for name, r in found.items()}
print(f"{len(found)} experiments: {', '.join(found)}")

# %% [markdown]
# ## Error rates, centre crop and ten patches
# Each seed's ten-crop top-1 error, and the ensemble of an experiment's seeds (averaged softmax).

# %%
print(f"{'experiment':18s} {'seeds':>5s} {'mode':>8s} {'top-1 per seed':>24s} {'ensemble top-1':>15s} {'top-5':>6s}")
for name, m in metrics.items():
    mode = "ten_crop" if "ten_crop" in m else "center"  # Figure 1's AlexNet runs are scored on the centre only
    per_seed = " ".join(f"{m['per_seed'][s][mode]['err_top1']:.3f}" for s in found[name].seeds)
    print(f"{name:18s} {len(found[name].seeds):5d} {mode:>8s} {per_seed:>24s} {m[mode]['err_top1']:15.3f} "
          f"{m[mode]['err_top5']:6.3f}")

# %% [markdown]
# ## Training curves

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for name, r in found.items():
    h = r.runs[r.seeds[0]].history
    ax.plot(np.arange(1, len(h["minival/err_top1"]) + 1), h["minival/err_top1"], label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("validation top-1 error")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Ablation deltas against the baseline (t-interval over seeds, paired when the seed lists match; 95%)

# %%
print(ESTIMATOR_RULE)
base = found["baseline"]


def top1(r):  # {seed: ten-crop top-1 error}: the seed is the unit the interval is over
    return {s: r.metrics["per_seed"][s]["ten_crop"]["err_top1"] for s in r.seeds}


effects = {}
for name, r in found.items():
    if name != "baseline" and all("ten_crop" in r.metrics["per_seed"][s] for s in r.seeds):
        effects[name] = e = effect(top1(base), top1(r))
        interval = "no interval" if e.low is None else f"[{e.low * 100:+6.1f}, {e.high * 100:+6.1f}]"
        paper_sign = ABLATIONS[name].sign if name in ABLATIONS else None
        print(f"{name:18s} {e.point * 100:+6.1f} points  {interval} ({e.method})  {verdict(e, paper_sign).text}")

# %% [markdown]
# ## The baseline's conv1 kernels (the paper's Figure 3)

# %%
import torch

grids = filter_grid(torch.from_numpy(base.conv1), base.towers)
fig, axes = plt.subplots(1, len(grids), figsize=(10, 4), squeeze=False)
for i, (ax, grid) in enumerate(zip(axes[0], grids)):
    ax.imshow(grid, interpolation="nearest")
    ax.set_title(f"tower {i + 1}")
    ax.axis("off")
plt.show()
first = base.runs[base.seeds[0]].config
fresh = kernels.low_frequency_share(kernels.initial_conv1(first["model"], len(base.classes), init_seed(first["seed"])))
print(f"low-frequency share (energy within {kernels.LOW_RADIUS:g} cycles per kernel): trained "
      f"{kernels.low_frequency_share(base.conv1):.1%}, the same run at init {fresh:.1%}, "
      f"white noise {kernels.white_noise_share():.1%}")

# %% [markdown]
# ## Nearest training images in fc7 space (the paper's Figure 4)

# %%
feats = base.features
with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):  # where this project keeps that store
    store = Path(compose(config_name="report", overrides=[f"data={base.dataset}", f"paths.root={ROOT}"]).data.store_dir)
side = base.runs[base.seeds[0]].config["data"].get("image_size", 256)  # the scale it trained at
val, train = ShardReader(store, "val"), ShardReader(store, "train")
train_pos = {n: i for i, n in enumerate(train.names)}
query = 0
near = neighbours.nearest(feats["train"], feats["val"], 5)  # every validation image's 5 nearest
nearest = near[query]
rate = neighbours.same_class_rate(near, feats["val_labels"], feats["train_labels"])
print(f"{rate:.1%} of the 5 nearest training images share the query's class "
      f"(chance {neighbours.chance_rate(feats['val_labels'], feats['train_labels']):.1%})")
fig, axes = plt.subplots(1, 6, figsize=(12, 2.4))
axes[0].imshow(val.image(query, side))
axes[0].set_title("validation image")
for ax, j in zip(axes[1:], nearest):
    ax.imshow(train.image(train_pos[str(feats["train_names"][j])], side))
for ax in axes:
    ax.axis("off")
plt.show()
assert len(nearest) == min(5, len(feats["train"]))
