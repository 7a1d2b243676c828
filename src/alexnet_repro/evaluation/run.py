"""evaluate(): error rates of an experiment's finished runs, per seed and as an ensemble, centre and ten-crop,
written as one ExperimentResult (results.py) with everything the report and the notebook need."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from alexnet_repro import provenance, results
from alexnet_repro.data import minival
from alexnet_repro.data.dataset import StoreDataset, collate_channels_last
from alexnet_repro.data.store import fingerprint, read_info
from alexnet_repro.evaluation.config import EvaluateConfig
from alexnet_repro.evaluation.inputs import evaluation_inputs
from alexnet_repro.evaluation.predict import error_rates, fc7_features, predict, top5
from alexnet_repro.export import ExportedModel, ExportError, load_model

log = logging.getLogger(__name__)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextmanager
def cpu_threads(device: torch.device, threads: int | None) -> Iterator[None]:
    """torch's intra-op threads set to `threads` while evaluating on the CPU (float sums split over another number
    of threads round differently), and given back after: a long-lived worker may train next."""
    before = torch.get_num_threads()
    if device.type == "cpu" and threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _loader(store: str, split: str, side: int, batch_size: int, workers: int, limit: int | None = None,
            pool: np.ndarray | None = None) -> DataLoader:
    """pool: the records of the split to serve (all when None); limit: at most that many of them, a fixed draw."""
    dataset = StoreDataset(store, split, side)
    pool = np.arange(len(dataset)) if pool is None else np.asarray(pool)
    if limit is not None and limit < len(pool):
        pool = np.sort(np.random.default_rng(0).choice(pool, limit, replace=False))
    if len(pool) < len(dataset):
        dataset = Subset(dataset, pool.tolist())
    return DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False,
                      collate_fn=collate_channels_last)


def load_matching(path: Path, store_dir: str, device: torch.device) -> ExportedModel:
    """An exported model, refused when it was trained on other classes, or another store, than this one."""
    model = load_model(path, device)
    model.net.to(memory_format=torch.channels_last)  # the layout predict.channels_last gives the patches
    classes = read_info(store_dir).classes
    if [c["wnid"] for c in model.classes] != [c["wnid"] for c in classes]:
        raise ExportError(f"{path} was trained on {len(model.classes)} classes that are not the "
                          f"{len(classes)} classes of the store {store_dir}")
    if model.data_fingerprint != (store := fingerprint(store_dir)):
        raise ExportError(f"{path} was trained on store {model.data_fingerprint}, not on {store_dir} ({store}): "
                          "train it again on this store (the run folder resumes or restarts by itself)")
    return model


def _features(model: ExportedModel, store_dir: str, val: DataLoader, labels: np.ndarray, names: list[str],
              batch_size: int, workers: int, train_max: int, minival_per_class: int, device: torch.device
              ) -> dict[str, np.ndarray]:
    """fc7 activations for Figure 4: all validation images, and up to train_max of the training images the nets
    trained on (the minival images, held out from training, are not neighbours the paper's figure would search)."""
    out = {"val": fc7_features(model, val, device), "val_labels": labels, "val_names": np.array(names)}
    if train_max > 0:
        reader = StoreDataset(store_dir, "train").reader
        trained_on = minival.split(reader.names, reader.labels, minival_per_class)[0]
        train = _loader(store_dir, "train", model.preset.image_size, batch_size, workers, train_max, trained_on)
        idx = train.dataset.indices if isinstance(train.dataset, Subset) else list(range(len(reader)))
        out.update(train=fc7_features(model, train, device), train_labels=reader.labels[idx],
                   train_names=np.array([reader.names[i] for i in idx]))
    return out


def evaluate(cfg: EvaluateConfig, progress: bool = True, inputs: dict | None = None) -> results.ExperimentResult:
    """Every seed cfg.seeds names, at its checkpoint chosen on minival and at its last, on the validation images
    (scored here and nowhere else); features for Figure 4 when cfg.experiment_name is in cfg.features_for.
    inputs: evaluation_inputs(cfg) when the caller has them already; recorded with the result, taken before
    anything is read, so that a run changed meanwhile makes the next start evaluate again."""
    inputs = inputs or evaluation_inputs(cfg)
    dev = _device(cfg.device)
    with cpu_threads(dev, cfg.cpu_threads):
        result = _evaluate(cfg, dev, progress)
    results.write(cfg.out_dir, result, inputs)
    return result


def _evaluate(cfg: EvaluateConfig, dev: torch.device, progress: bool) -> results.ExperimentResult:
    store_dir = cfg.data.store_dir
    records, notes = results.finished_runs(cfg.runs_dir, cfg.seeds)
    for note in notes:
        log.warning("%s: %s", cfg.runs_dir, note)
    if not records:
        raise FileNotFoundError(f"no finished run of seeds {list(cfg.seeds)} under {cfg.runs_dir}: train this "
                                "experiment first")
    seeds = [r.name for r in records]
    chosen = {r.name: load_matching(r.model(), store_dir, dev) for r in records}
    runs = {r.name: results.load_run(r.folder) for r in records}
    sides = {model.preset.image_size for model in chosen.values()}
    if len(sides) > 1:
        raise ExportError(f"the runs under {cfg.runs_dir} expect images of different sizes {sorted(sides)}: "
                          "an experiment's seeds must share one configuration")
    val = _loader(store_dir, cfg.data.eval_split, sides.pop(), cfg.batch_size, cfg.workers)
    names = val.dataset.reader.names
    per_seed = {seed: predict([model], val, cfg.modes, dev, progress) for seed, model in chosen.items()}
    labels = next(iter(per_seed.values()))[1]
    metrics: dict = {"experiment": cfg.experiment_name, "split": cfg.data.eval_split, "seeds": seeds,
                     "num_images": len(names), "per_seed": {},
                     "per_seed_last": {}, "ignored": notes, "training": results.training_metrics(runs)}
    best5, ensemble5 = {}, {}
    for mode in cfg.modes:
        best5[mode] = np.stack([top5(per_seed[s][0][mode]) for s in seeds])
        for seed, classes in zip(seeds, best5[mode]):
            metrics["per_seed"].setdefault(seed, {})[mode] = error_rates(classes, labels)
        # The ensemble: the softmax averaged over seeds (Table 2's "5 CNNs").
        ensemble5[mode] = top5(np.mean([per_seed[s][0][mode] for s in seeds], axis=0))
        metrics[mode] = error_rates(ensemble5[mode], labels)
    for record in records:  # the last weights too: how much the choice on minival moved each seed
        last = load_matching(record.model(last=True), store_dir, dev)
        scores = predict([last], val, cfg.last_modes, dev, progress)[0]
        metrics["per_seed_last"][record.name] = {m: error_rates(top5(scores[m]), labels) for m in cfg.last_modes}
    first = chosen[seeds[0]]
    features = cfg.features_train_max if cfg.experiment_name in cfg.features_for else 0
    conv1 = np.stack([m.net.features.conv1.weight.detach().cpu().numpy() for m in chosen.values()])
    return results.ExperimentResult(
        experiment=cfg.experiment_name, dataset=cfg.data.name, profile=cfg.profile_name, seeds=seeds, labels=labels,
        names=list(names), top5=best5, ensemble_top5=ensemble5, metrics=metrics, runs=runs, classes=first.classes,
        towers=first.net.spec.towers, provenance=provenance.collect(fingerprint(store_dir)), conv1=conv1[0],
        features=_features(first, store_dir, val, labels, names, cfg.batch_size, cfg.workers, features,
                           cfg.data.minival_per_class, dev),
        conv1_seeds=conv1)


def log_to_wandb(result: results.ExperimentResult, logger_cfg, out_dir: str | Path) -> None:
    """The evaluate job joins its experiment's W&B group, so grouped tables compare ablations directly."""
    if logger_cfg.backend != "wandb":
        return
    import wandb

    group = f"{result.dataset}/{result.profile}/{result.experiment}"
    run = wandb.init(project=logger_cfg.project, entity=logger_cfg.entity, group=group, job_type="evaluate",
                     name=f"{result.experiment}-evaluate", tags=[f"data:{result.dataset}", f"profile:{result.profile}"],
                     dir=str(out_dir), mode=os.environ.get("WANDB_MODE", logger_cfg.mode),
                     config={"experiment": result.experiment, "seeds": result.seeds})
    for mode in results.MODES:
        if mode in result.metrics:
            for key, value in result.metrics[mode].items():
                run.summary[f"eval/{mode}/{key}"] = value
    run.finish()
