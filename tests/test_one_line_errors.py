"""Faults of the data a source holds that were a traceback, or passed stages only to fail later: each is one line
naming the archive or folder, at the download stage (issue 24)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from alexnet_repro.data import download as acquire_mod
from alexnet_repro.data.config import SourceConfig

ROOT = Path(__file__).resolve().parents[1]


def _imagenette(tmp_path, tree: Path, splits: dict[str, str]) -> Path:
    """A .tgz of `tree`'s folders as Imagenette lays them out: {folder in tree: name in the archive}."""
    archive = tmp_path / "served" / "imagenette2-320.tgz"
    archive.parent.mkdir(exist_ok=True)
    with tarfile.open(archive, "w:gz") as tgz:
        for folder, name in splits.items():
            tgz.add(tree / folder, arcname=f"imagenette2-320/{name}")
    return archive


def _acquire_imagenette(tmp_path, archive: Path):
    source = SourceConfig(kind="imagenette", location=str(archive), verify_md5=False,
                          download_dir=str(tmp_path / "dl"))
    return acquire_mod.acquire(source, tmp_path / "raw", progress=False)


def test_an_imagenette_archive_without_train_is_one_line_naming_it(tiny_data, tmp_path):
    """It was a StopIteration traceback."""
    archive = _imagenette(tmp_path, tiny_data["tree"], {"val": "val"})
    with pytest.raises(FileNotFoundError) as err:
        _acquire_imagenette(tmp_path, archive)
    fetched = tmp_path / "dl" / archive.name  # the copy the stage reads
    assert str(err.value) == (f"{fetched} holds no train/ folder: an Imagenette archive holds <name>/train/<wnid>/ "
                              "and <name>/val/<wnid>/ folders of images")
    assert not (tmp_path / "raw").exists()


def test_an_imagenette_archive_without_val_names_the_archive_not_a_temporary_folder(tiny_data, tmp_path):
    archive = _imagenette(tmp_path, tiny_data["tree"], {"train": "train"})
    with pytest.raises(FileNotFoundError) as err:
        _acquire_imagenette(tmp_path, archive)
    assert str(err.value) == (f"{tmp_path / 'dl' / archive.name}/imagenette2-320/val is missing: an ImageFolder "
                              "source needs train/ and val/")


def _one_class_tree(tiny_data, tmp_path) -> tuple[Path, str]:
    wnid = sorted(p.name for p in (tiny_data["tree"] / "train").iterdir())[0]
    tree = tmp_path / "one"
    for split in ("train", "val"):
        shutil.copytree(tiny_data["tree"] / split / wnid, tree / split / wnid)
    return tree, wnid


def test_a_one_class_imagefolder_is_refused_by_the_download_stage_in_one_line(tiny_data, tmp_path):
    """It passed download, resize and pca, and failed at training inside torchmetrics."""
    tree, wnid = _one_class_tree(tiny_data, tmp_path)
    done = subprocess.run([sys.executable, "src/download.py", "data=imagefolder", f"data.source.location={tree}",
                           f"paths.data={tmp_path / 'data'}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        f"error: {tree / 'train'} holds only one class ({wnid}): a classifier needs at least 2 classes"], done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "data" / "raw").exists()


def test_a_one_class_imagenette_archive_is_refused_naming_the_archive(tiny_data, tmp_path):
    tree, wnid = _one_class_tree(tiny_data, tmp_path)
    archive = _imagenette(tmp_path, tree, {"train": "train", "val": "val"})
    with pytest.raises(ValueError) as err:
        _acquire_imagenette(tmp_path, archive)
    fetched = tmp_path / "dl" / archive.name
    assert str(err.value) == (f"{fetched}/imagenette2-320/train holds only one class ({wnid}): a classifier "
                              "needs at least 2 classes")
    assert not (tmp_path / "raw").exists()
