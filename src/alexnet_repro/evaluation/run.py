"""evaluate(cfg): error rates of an experiment's checkpoint(s), per seed and as an ensemble, centre and
ten-crop; per-image top-5 predictions; fc7 features and conv1 kernels for the report's figures."""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from alexnet_repro.atomic import atomic_dir, write_json
from alexnet_repro.data.datamodule import StoreDataset
from alexnet_repro.evaluation.predict import MODES, error_rates, fc7_features, load_module, predict, top5


def find_checkpoints(runs_dir: Path) -> dict[str, Path]:
    """{"seed0": .../best.ckpt, ...}: a multirun folder of seeds, or a single run folder."""
    seeds = {p.parent.parent.name: p for p in sorted(runs_dir.glob("*/checkpoints/best.ckpt"))}
    single = runs_dir / "checkpoints" / "best.ckpt"
    if not seeds and single.exists():
        seeds = {"run": single}
    if not seeds:
        raise FileNotFoundError(f"no checkpoints/best.ckpt under {runs_dir}: train this experiment first")
    return seeds


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _loader(store: str, split: str, batch_size: int, workers: int, limit: int | None = None) -> DataLoader:
    dataset = StoreDataset(store, split)
    if limit is not None and limit < len(dataset):
        keep = np.sort(np.random.default_rng(0).choice(len(dataset), limit, replace=False))
        dataset = Subset(dataset, keep.tolist())
    return DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)


def _predictions_csv(names, labels, columns: dict[str, np.ndarray]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "label", *columns])
    for i, (name, label) in enumerate(zip(names, labels)):
        writer.writerow([name, int(label), *(" ".join(map(str, col[i])) for col in columns.values())])
    return buffer.getvalue().encode()


def evaluate(experiment: str, runs_dir: str | Path, out_dir: str | Path, store_dir: str, modes=MODES,
             batch_size: int = 10, workers: int = 2, features_train_max: int = 5000, device: str = "auto",
             progress: bool = True) -> dict:
    """features_train_max: training images whose fc7 features are saved (0: none, only validation's)."""
    runs_dir, out_dir, dev = Path(runs_dir), Path(out_dir), _device(device)
    checkpoints = find_checkpoints(runs_dir)
    modules = {seed: load_module(path, dev) for seed, path in checkpoints.items()}
    val = _loader(store_dir, "val", batch_size, workers)
    names = val.dataset.reader.names
    metrics = {"experiment": experiment, "seeds": list(checkpoints), "num_images": len(names), "per_seed": {}}
    per_seed = {seed: predict([module], val, modes, dev, progress) for seed, module in modules.items()}
    labels = next(iter(per_seed.values()))[1]
    columns: dict[str, np.ndarray] = {}
    for mode in modes:
        for seed, (probs, _) in per_seed.items():
            metrics["per_seed"].setdefault(seed, {})[mode] = error_rates(probs[mode], labels)
            if len(modules) > 1:
                columns[f"{seed}_{mode}_top5"] = top5(probs[mode])
        # The ensemble: the softmax averaged over seeds (Table 2's "5 CNNs").
        mean = np.mean([probs[mode] for probs, _ in per_seed.values()], axis=0)
        metrics[mode] = error_rates(mean, labels)
        columns[f"{mode}_top5"] = top5(mean)
    first = next(iter(modules.values()))
    with atomic_dir(out_dir / "evaluation") as tmp:
        (tmp / "predictions.csv").write_bytes(_predictions_csv(names, labels, columns))
        features = {"val": fc7_features(first, val, dev), "val_labels": labels, "val_names": np.array(names)}
        if features_train_max > 0:
            train = _loader(store_dir, "train", batch_size, workers, features_train_max)
            reader = StoreDataset(store_dir, "train").reader
            idx = train.dataset.indices if isinstance(train.dataset, Subset) else list(range(len(reader)))
            features.update(train=fc7_features(first, train, dev), train_labels=reader.labels[idx],
                            train_names=np.array([reader.names[i] for i in idx]))
        np.savez_compressed(tmp / "fc7.npz", **features)
        np.save(tmp / "conv1.npy", first.net.features.conv1.weight.detach().cpu().numpy())
    seed0 = next(iter(checkpoints.values())).parent.parent
    shutil.copyfile(seed0 / "history.csv", out_dir / "history.csv")
    metrics["towers"] = first.net.spec.towers
    metrics["store_dir"] = str(store_dir)
    metrics["train_summaries"] = {seed: str(path.parent.parent / "train_summary.json") for seed, path in checkpoints.items()}
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def log_to_wandb(metrics: dict, logger_cfg, data_name: str, profile: str, out_dir: Path) -> None:
    """The evaluate job joins its experiment's W&B group, so grouped tables compare ablations directly."""
    if logger_cfg.backend != "wandb":
        return
    import wandb

    run = wandb.init(project=logger_cfg.project, entity=logger_cfg.entity, group=metrics["experiment"],
                     job_type="evaluate", name=f"{metrics['experiment']}-evaluate",
                     tags=[f"data:{data_name}", f"profile:{profile}"], dir=str(out_dir),
                     mode=os.environ.get("WANDB_MODE", logger_cfg.mode), config={"experiment": metrics["experiment"]})
    for mode in MODES:
        if mode in metrics:
            for key, value in metrics[mode].items():
                run.summary[f"eval/{mode}/{key}"] = value
    run.finish()
