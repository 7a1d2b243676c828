"""Shared fixtures: a tiny generated dataset taken through the real download -> resize -> pca code."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

# Each stage's schema module registers its schemas in Hydra's ConfigStore when imported.
import alexnet_repro.evaluation.config  # noqa: F401
import alexnet_repro.report.config  # noqa: F401
import alexnet_repro.training.config  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
PYTHON = sys.executable


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """4 generated classes, 16 train and 6 val images each: archives; raw (the archives indexed in place, as
    the pipeline does); tree (the same images unpacked as an ImageFolder raw folder, for tests that change
    files); store and statistics."""
    from alexnet_repro.data.generate import GeneratedSpec, generate
    from alexnet_repro.data.ilsvrc import index_ilsvrc, read_archive_index, read_classes
    from alexnet_repro.data.pca import pixel_statistics, write_statistics
    from alexnet_repro.data.resize import build_store
    from alexnet_repro.data.sources import archive_parts, read_part

    root = tmp_path_factory.mktemp("tiny")
    spec = GeneratedSpec(classes=4, train_per_class=16, val_per_class=6, seed=3)
    archives = generate(root / "archives", spec, workers=2, progress=False)
    index_ilsvrc(archives["train"], archives["val"], archives["devkit"], root / "raw", progress=False)
    build_store(root / "raw", root / "store", resize_settings(shard_size=20, workers=1), progress=False)
    stats, mean = pixel_statistics(root / "store", workers=1, progress=False)
    write_statistics(stats, mean, root / "stats" / "pca_stats.json")
    tree = root / "tree"
    label_of = {c["wnid"]: i for i, c in enumerate(read_classes(root / "raw"))}
    for split in ("train", "val"):
        for part in archive_parts(read_archive_index(root / "raw"), split, label_of):
            for name, _, data in read_part(part):
                (tree / split / name).parent.mkdir(parents=True, exist_ok=True)
                (tree / split / name).write_bytes(data)
    shutil.copyfile(root / "raw" / "classes.json", tree / "classes.json")
    return {"root": root, "archives": archives, "spec": spec, "raw": root / "raw", "tree": tree,
            "store": root / "store", "stats": root / "stats" / "pca_stats.json"}


def resize_settings(**overrides):
    """data.resize of the embedded dataset's config (conf/data/embedded.yaml), with a test's overrides."""
    from omegaconf import OmegaConf

    from alexnet_repro.data.config import ResizeConfig

    return ResizeConfig(**{**OmegaConf.to_container(OmegaConf.load(CONF / "data" / "embedded.yaml").resize),
                           **overrides})


def repository_copy(work: Path, params: dict, edit=None) -> Path:
    """A copy of the repository (git's files, less the committed pipeline's outputs: this copy makes its own) as
    its own git + DVC repository, params.yaml updated with `params`; `edit(work)` changes files before the commit."""
    import subprocess

    import yaml

    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (work / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, work / f)
    (work / "dvc.lock").unlink(missing_ok=True)
    for generated in ("reports", "results"):
        shutil.rmtree(work / generated, ignore_errors=True)
    values = yaml.safe_load((work / "params.yaml").read_text())
    tiny_figure1 = {"cifar": {**values["cifar"], "dataset": "cifar10_embedded_tiny"}}  # seconds
    (work / "params.yaml").write_text(yaml.safe_dump({**values, **tiny_figure1, **params}))
    if edit is not None:
        edit(work)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "fixture"]):
        subprocess.run(cmd, cwd=work, check=True, capture_output=True)
    return work


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a training or `dvc repro` this test starts: this interpreter's bin on PATH, W&B quiet and
    in the config's mode, and not attached to a W&B service this test process may have started (in-process
    trainings): a child that shares it can find its own resumed run "in use"."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "WANDB_SILENT": "true", **extra}
    for key in ("WANDB_MODE", "WANDB_SERVICE"):
        env.pop(key, None)
    return env


def data_overrides(tiny) -> list[str]:
    return [f"data.store_dir={tiny['store']}", f"data.stats_path={tiny['stats']}", "data.batch_size=8",
            "data.workers=0", "data.minival_per_class=2", "model.width=0.125", "trainer.accelerator=cpu",
            "trainer.enable_progress_bar=false"]


def compose_train(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def compose_evaluate(experiment: str, runs_dir, out_dir, store, seeds=(0,), **settings):
    """The evaluate stage's validated config for a test's own runs and store (data=embedded_tiny, profile tiny)."""
    from alexnet_repro.evaluation.config import EvaluateConfig
    from alexnet_repro.schema import validate

    values = {"batch_size": 16, "workers": 0, "features_train_max": 0, "features_for": "[]", **settings}
    overrides = [f"experiment_name={experiment}", f"runs_dir={runs_dir}", f"out_dir={out_dir}",
                 f"data.store_dir={store}", f"seeds=[{','.join(map(str, seeds))}]", "data=embedded_tiny",
                 "profile_name=tiny", "logger=none", *(f"{k}={v}" for k, v in values.items())]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return validate(compose(config_name="evaluate", overrides=overrides), EvaluateConfig)


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory):
    """A 10-class CIFAR-format archive of 12 training images a class, through download -> store -> pca."""
    import hashlib

    from alexnet_repro.data.config import SourceConfig
    from alexnet_repro.data.download import acquire
    from alexnet_repro.data.generate_cifar10 import CifarSpec, generate_cifar10
    from alexnet_repro.data.pca import pixel_statistics, write_statistics
    from alexnet_repro.data.resize import build_store

    root = tmp_path_factory.mktemp("cifar")
    archive, md5s = generate_cifar10(root / "archives", CifarSpec(train_per_class=12, test_per_class=2, seed=1),
                                     workers=1, progress=False)
    md5s = {archive.name: hashlib.md5(archive.read_bytes()).hexdigest(), **md5s}  # not the published archive's
    source = SourceConfig(kind="cifar10", location=str(archive), verify_md5=True, md5=md5s,
                          download_dir=str(root / "dl"))
    raw = acquire(source, root / "raw", progress=False)
    build_store(raw, root / "store", resize_settings(encoding="raw", workers=1), progress=False)
    stats, mean = pixel_statistics(root / "store", workers=1, progress=False)
    write_statistics(stats, mean, root / "stats" / "pca_stats.json")
    return root


def offline_rows(run_dir) -> list[list[dict]]:
    """The history rows of each offline W&B run under a run folder, runs in the order they were started."""
    from alexnet_repro.training.wandb_rows import history_rows

    runs = sorted((Path(run_dir) / "wandb").glob("offline-run-*"))
    return [list(history_rows(next(r.glob("*.wandb")))) for r in runs]


def logged_steps(run_dir) -> list[list[int]]:
    """trainer/global_step of each offline run's history rows, runs in the order they were started."""
    return [[row["trainer/global_step"] for row in rows if "trainer/global_step" in row]
            for rows in offline_rows(run_dir)]
