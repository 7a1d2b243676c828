"""The contract between stages: what training leaves for evaluation, and what evaluation leaves for the
report and the notebook. One writer and one reader per file; nothing else looks inside runs/ or results/.

results/<experiment>/
  result.json   ExperimentResult's scalars, lists and dicts (schema_version first); written last. It also records
                the evaluation's inputs (evaluation/inputs.py) and the sha256 of the three files below, so that
                the evaluate stage can tell a finished evaluation of the same inputs and adopt it
  result.npz    its arrays: labels, per-seed and ensemble top-5 predictions, conv1 kernels, fc7 features
  metrics.json  the error rates and each seed's end of training, for `dvc metrics` (a view of result.json)
  history/      seed<k>.csv: every seed's per-epoch history, for `dvc plots` (DVC draws each file of a folder)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from alexnet_repro.atomic import atomic_path, write_bytes, write_json
from alexnet_repro.checked_json import read_checked

SCHEMA_VERSION = 1
MODES = ("center", "ten_crop")  # section 4.1: one centre patch, or ten patches averaged
RESULT_JSON, RESULT_NPZ = "result.json", "result.npz"
METRICS_JSON, HISTORY_DIR = "metrics.json", "history"
TRAIN_SUMMARY = "train_summary.json"  # written last by training: a run folder without it did not finish
RUN_CONFIG, RUN_HISTORY = "resolved_config.yaml", "history.csv"  # what load_run reads besides TRAIN_SUMMARY
# history.csv's columns that more than one module names: training/module.py logs them, training/callbacks.py
# writes them, the run's health and best checkpoint (training/fit.py) and the report (report/*.py) read them.
TRAIN_LOSS, TRAIN_ERR_TOP1, LR = "train/loss", "train/err_top1", "lr"
SELECTION = "minival"  # the split every training decision reads (data/minival.py): never the validation images
SELECTION_ERR_TOP1 = f"{SELECTION}/err_top1"  # what the best checkpoint and the plateau schedule are chosen on
LRN_WINDOW_COLUMNS = {site: f"lrn/{site}_window_mean" for site in ("norm1", "norm2")}  # section 3.3's S per LRN layer


# Keys that say where files go, what is printed, how often state is saved or how fast it runs, not what is
# trained: a run's recorded config leaves them out, so that results read the same whichever folder or machine
# made them, and a run resumes whatever they are set to (resume.py fingerprints the rest). The speed settings
# change nothing beyond float rounding (run.speed_up; DALI decodes within a grey level of the CPU decoder).
NOT_RECORDED = ("paths", "logger", "ckpt_path", "fresh_start", "trainer.enable_progress_bar",
                "trainer.log_every_n_steps", "trainer.ckpt_every_n_steps", "trainer.checkpoint_every_minutes",
                "trainer.channels_last", "trainer.compile", "trainer.compile_mode", "data.workers", "data.decoder",
                "data.raw_dir", "data.store_dir", "data.stats_path", "data.source")


class ResultError(ValueError):
    """A result file of another schema, or damaged: a ValueError, so the entry points print one line."""


# What write() puts in result.json besides schema_version: load() names those missing.
RESULT_KEYS = ("experiment", "dataset", "profile", "seeds", "names", "metrics", "runs", "classes", "towers",
               "provenance")


def recorded_config(resolved: dict) -> dict:
    """A resolved training config less NOT_RECORDED keys (a copy)."""
    config = json.loads(json.dumps(resolved))
    for dotted in NOT_RECORDED:
        *parents, leaf = dotted.split(".")
        node = config
        for key in parents:
            node = node.get(key, {})
        node.pop(leaf, None)
    return config


@dataclass
class SeedRun:
    """One trained seed as evaluation found it: its summary, resolved config and per-epoch history."""

    summary: dict
    config: dict
    history: dict[str, list[float]]


@dataclass
class ExperimentResult:
    experiment: str
    dataset: str
    profile: str
    seeds: list[str]  # "seed0", ...: the order of the first axis of every per-seed array
    labels: np.ndarray  # (N,) validation labels
    names: list[str]  # (N,) validation image names
    top5: dict[str, np.ndarray]  # mode -> (seeds, N, 5) class indices, best first
    ensemble_top5: dict[str, np.ndarray]  # mode -> (N, 5): the seeds' averaged softmax
    metrics: dict  # {"per_seed": {seed: {mode: rates}}, mode: ensemble rates, "num_images": N}
    runs: dict[str, SeedRun]
    classes: list[dict]  # wnid, words; label order
    towers: int
    provenance: dict[str, str]
    conv1: np.ndarray | None = None  # (K, 3, 11, 11), the first seed's
    features: dict[str, np.ndarray] = field(default_factory=dict)  # val/train fc7, labels and names
    conv1_seeds: np.ndarray | None = None  # (seeds, K, 3, 11, 11): every seed's, for Figure 3's spread

    def seed_rates(self, mode: str, key: str = "err_top1", last: bool = False) -> dict[str, float]:
        """{seed: error rate} in seed order, at the minival-chosen checkpoint or (last) the final weights; the one
        reader of metrics' per-seed rates (KeyError for a mode or checkpoint not scored)."""
        scored = self.metrics["per_seed_last" if last else "per_seed"]
        return {s: scored[s][mode][key] for s in self.seeds}

    def errors(self, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """Per-image 0/1 top-1 and top-5 errors, (seeds, N) each."""
        best = self.top5[mode]
        return ((best[..., 0] != self.labels).astype(float),
                (~(best == self.labels[None, :, None]).any(-1)).astype(float))


def history_csv(history: dict[str, list[float]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    keys = list(history)
    writer.writerow(keys)
    writer.writerows(zip(*(history[k] for k in keys)))
    return buffer.getvalue().encode()


def read_history(path: Path) -> dict[str, list[float]]:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) if r[k] != "" else float("nan") for r in rows] for k in rows[0]} if rows else {}


def output_files(seeds: list[str]) -> list[str]:
    """What write() puts beside result.json, which hashes them: the arrays, the metrics, a history per seed."""
    return [RESULT_NPZ, METRICS_JSON, *(f"{HISTORY_DIR}/{seed}.csv" for seed in seeds)]


def training_metrics(runs: dict[str, SeedRun]) -> dict:
    """Each seed's end of training as its train stage summarised it, for `dvc metrics` beside the error rates."""
    return {seed: {"epochs": run.summary["epochs"], TRAIN_ERR_TOP1: run.summary["metrics"].get(TRAIN_ERR_TOP1),
                   "best_selection_err_top1": run.summary["best_selection_err_top1"],
                   "health": run.summary.get("health", {}).get("status")} for seed, run in runs.items()}


def _write_histories(folder: Path, result: ExperimentResult) -> None:
    histories = folder / HISTORY_DIR
    histories.mkdir(exist_ok=True)
    for stale in set(histories.glob("*.csv")) - {histories / f"{s}.csv" for s in result.seeds}:
        stale.unlink()  # a seed no longer asked for: its curve must not be drawn as this result's
    for seed in result.seeds:
        write_bytes(histories / f"{seed}.csv", history_csv(result.runs[seed].history))


def file_sha256(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write(folder: str | Path, result: ExperimentResult, inputs: dict | None = None) -> None:
    """inputs: what the result was computed from (evaluation/inputs.py), recorded in result.json; None for a
    result that no evaluation may adopt."""
    folder = Path(folder)
    # result.json says the files beside it are whole: an earlier one must not vouch for files half replaced.
    (folder / RESULT_JSON).unlink(missing_ok=True)
    arrays = {"labels": result.labels, **{f"top5/{m}": a for m, a in result.top5.items()},
              **{f"ensemble_top5/{m}": a for m, a in result.ensemble_top5.items()},
              **{f"features/{k}": v for k, v in result.features.items()}}
    if result.conv1 is not None:
        arrays["conv1"] = result.conv1
    if result.conv1_seeds is not None:
        arrays["conv1_seeds"] = result.conv1_seeds
    with atomic_path(folder / RESULT_NPZ) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    _write_histories(folder, result)
    write_json(folder / METRICS_JSON, result.metrics)
    meta = {"schema_version": SCHEMA_VERSION, "experiment": result.experiment, "dataset": result.dataset,
            "profile": result.profile, "seeds": result.seeds, "names": result.names, "metrics": result.metrics,
            "runs": {s: vars(r) for s, r in result.runs.items()}, "classes": result.classes,
            "towers": result.towers, "provenance": result.provenance, "inputs": inputs,
            "outputs": {name: file_sha256(folder / name) for name in output_files(result.seeds)}}
    write_json(folder / RESULT_JSON, meta)  # last: its presence means the result is whole


def load(folder: str | Path) -> ExperimentResult:
    folder = Path(folder)
    path = folder / RESULT_JSON
    again = f"re-run its evaluate stage (`dvc repro evaluate@{folder.name}`)"
    if not path.exists():
        old = " (it holds an older layout: re-run its evaluate stage)" if (folder / METRICS_JSON).exists() else ""
        raise FileNotFoundError(f"{path} does not exist{old}")
    meta = read_checked(path, ("schema_version", *RESULT_KEYS), ResultError, again)
    if meta["schema_version"] != SCHEMA_VERSION:
        raise ResultError(f"{path} has schema version {meta['schema_version']!r}, this code reads "
                          f"{SCHEMA_VERSION}: {again}")
    npz_path = folder / RESULT_NPZ
    try:
        with np.load(npz_path) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:  # missing, cut short, not an .npz
        raise ResultError(f"{npz_path} cannot be read ({' '.join(str(err).split())}): {again}") from None
    if "labels" not in arrays:
        raise ResultError(f"{npz_path} lacks 'labels': {again}")

    def prefixed(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    try:
        runs = {s: SeedRun(**r) for s, r in meta["runs"].items()}
    except (AttributeError, TypeError) as err:
        raise ResultError(f"{path}: 'runs' is not what evaluate writes ({err}): {again}") from None
    return ExperimentResult(
        experiment=meta["experiment"], dataset=meta["dataset"], profile=meta["profile"], seeds=meta["seeds"],
        labels=arrays["labels"], names=meta["names"], top5=prefixed("top5/"),
        ensemble_top5=prefixed("ensemble_top5/"), metrics=meta["metrics"], runs=runs, classes=meta["classes"],
        towers=meta["towers"], provenance=meta["provenance"], conv1=arrays.get("conv1"),
        features=prefixed("features/"), conv1_seeds=arrays.get("conv1_seeds"))


def write_train_summary(run_dir: str | Path, summary: dict) -> None:
    write_json(Path(run_dir) / TRAIN_SUMMARY, summary)


SEED_FOLDER = "seed{seed}"
# One folder per run, runs/<dataset>/<profile>/<experiment>/seed<k> ({runs}: conf/paths' runs). Its copies, which
# cannot read this (conf/train.yaml's hydra dirs, conf/evaluate.yaml's runs_dir, dvc.yaml), are checked against it
# by tests/test_one_home.py.
EXPERIMENT_FOLDER = "{runs}/{dataset}/{profile}/{experiment}"
RUN_FOLDER = f"{EXPERIMENT_FOLDER}/{SEED_FOLDER}"


@dataclass(frozen=True)
class RunRecord:
    """A finished training run of one seed: its folder, and the exported models evaluation scores."""

    seed: int
    folder: Path

    @property
    def name(self) -> str:
        return SEED_FOLDER.format(seed=self.seed)

    def model(self, last: bool = False) -> Path:
        summary = json.loads((self.folder / TRAIN_SUMMARY).read_text())
        return self.folder / summary["model_last" if last else "model"]

    def files_read(self) -> list[Path]:
        """Every file of the run that evaluation reads: load_run's and the two models'."""
        read_by_load_run = [self.folder / name for name in (TRAIN_SUMMARY, RUN_CONFIG, RUN_HISTORY)]
        return read_by_load_run + [self.model(), self.model(last=True)]


def finished_runs(experiment_dir: str | Path, seeds: list[int]) -> tuple[list[RunRecord], list[str]]:
    """The finished runs of the seeds asked for (params.yaml's seeds), and a note for every seed folder left
    out: not finished, or not asked for (a seed trained by hand, or left after `seeds` shrank)."""
    experiment_dir = Path(experiment_dir)
    records, notes = [], []
    for seed in seeds:
        folder = experiment_dir / SEED_FOLDER.format(seed=seed)
        if (folder / TRAIN_SUMMARY).exists():  # written last: the run finished
            records.append(RunRecord(seed, folder))
        else:
            notes.append(f"{folder.name}: not finished, left out")
    asked = {SEED_FOLDER.format(seed=seed) for seed in seeds}
    for folder in sorted(experiment_dir.glob(SEED_FOLDER.format(seed="*"))) if experiment_dir.is_dir() else []:
        if folder.name not in asked:
            notes.append(f"{folder.name}: not among the seeds asked for {list(seeds)}, ignored")
    return records, notes
def _read_run_file(path: Path, parse):
    """parse(path), or one line naming the file and the stage that writes it again (its run's training)."""
    try:
        return parse(path)
    except (OSError, ValueError, yaml.YAMLError, AttributeError, KeyError, TypeError) as err:
        raise ResultError(f"{path} cannot be read ({' '.join(str(err).split())}): train that run again "
                          "(its train stage, with fresh_start=true)") from None


def load_run(run_dir: str | Path) -> SeedRun:
    """A finished training run (train_summary.json exists), as evaluation reads it."""
    run_dir = Path(run_dir)
    summary_path = run_dir / TRAIN_SUMMARY
    if not summary_path.exists():
        raise FileNotFoundError(f"{summary_path} does not exist: that training did not finish")
    summary = _read_run_file(summary_path, lambda p: json.loads(p.read_text()))
    config = _read_run_file(run_dir / RUN_CONFIG, lambda p: recorded_config(yaml.safe_load(p.read_text())))
    return SeedRun(summary, config, _read_run_file(run_dir / RUN_HISTORY, read_history))


def load_all(results_dir: str | Path, dataset: str | None = None,
             profile: str | None = None) -> tuple[dict[str, ExperimentResult], list[str]]:
    """Every result of this dataset and profile (None: any) under results_dir, and a note for each one skipped."""
    found, skipped = {}, []
    for folder in sorted(p for p in Path(results_dir).iterdir() if p.is_dir()) if Path(results_dir).exists() else []:
        try:
            result = load(folder)
        except (FileNotFoundError, ResultError) as err:
            skipped.append(f"{folder.name}: {err}")
            continue
        if dataset is not None and (result.dataset, result.profile) != (dataset, profile):
            skipped.append(f"{folder.name}: dataset {result.dataset}, profile {result.profile}")
            continue
        found[result.experiment] = result
    return found, skipped
