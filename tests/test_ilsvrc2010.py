"""data=imagenet2010: archives generated in the official ILSVRC-2010 layout go through download -> resize into a
store with train, val and test splits labelled as the generator drew them; bad input is one line naming the file."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile

import pytest
from hydra import compose, initialize_config_dir

from alexnet_repro.basics import ConfigError
from alexnet_repro.data.config import DataConfig, PrepareConfig, SourceConfig
from alexnet_repro.data.download import acquire
from alexnet_repro.data.generate import GeneratedSpec, wnid
from alexnet_repro.data.generate_ilsvrc2010 import generate_2010
from alexnet_repro.data.ilsvrc import read_classes
from alexnet_repro.data.ilsvrc2010 import DEVKIT_DATA, FILES
from alexnet_repro.data.resize import build_store, resize_center
from alexnet_repro.data.store import ShardReader, read_info
from alexnet_repro.schema import validate
from conftest import CONF, resize_settings

SPEC = GeneratedSpec(classes=3, train_per_class=4, val_per_class=2, seed=5)
TEST_PER_CLASS = 3


def _source(location, tmp_path) -> SourceConfig:
    return SourceConfig(kind="ilsvrc2010", location=str(location), verify_md5=False,
                        download_dir=str(tmp_path / "downloads"))


@pytest.fixture(scope="module")
def data2010(tmp_path_factory):
    """The five generated files, indexed by the download stage's code, resized into a store."""
    root = tmp_path_factory.mktemp("ilsvrc2010")
    generated = generate_2010(root / "archives", SPEC, TEST_PER_CLASS)
    raw = acquire(_source(root / "archives", root), root / "raw", progress=False)
    build_store(raw, root / "store", resize_settings(shard_size=4, workers=1), progress=False)
    return {"root": root, "generated": generated, "raw": raw, "store": root / "store"}


def _member_names(archive) -> list[str]:
    with tarfile.open(archive) as tar:
        return [m.name for m in tar if m.isfile()]


@pytest.mark.parametrize("split", ["val", "test"])
def test_val_and_test_images_carry_the_class_the_generator_drew(data2010, split):
    archive = data2010["generated"].paths[split]
    members = _member_names(archive)
    # the traps are armed: the tar's order is not the name order the ground truth follows, and the IDs run
    # against the wnids' order (data/generate_ilsvrc2010.py)
    assert members != sorted(members) and all(m.startswith(f"{split}/ILSVRC2010_{split}_") for m in members)
    reader = ShardReader(data2010["store"], split)
    labels = {c["wnid"]: i for i, c in enumerate(read_info(data2010["store"]).classes)}
    answers = data2010["generated"].answers
    expected = {f"{wnid(answers[m.split('/')[1]])}/{m.split('/')[1]}" for m in members}
    assert set(reader.names) == expected
    for name, label in zip(reader.names, reader.labels):
        assert label == labels[name.split("/")[0]] == answers[name.split("/")[1]]  # sorted wnids = class order


def test_store_has_the_three_splits_and_every_training_image(data2010):
    info = read_info(data2010["store"])
    counts = {split: entry["count"] for split, entry in info.splits.items()}
    assert counts == {"train": 3 * SPEC.train_per_class, "val": 3 * SPEC.val_per_class, "test": 3 * TEST_PER_CLASS}
    assert [c["wnid"] for c in read_classes(data2010["raw"])] == [wnid(c) for c in range(3)]  # no ancestor
    train = ShardReader(data2010["store"], "train")
    assert all(label == int(name[3:9]) for name, label in zip(train.names, train.labels))


def test_a_url_prefix_fetches_the_five_files_into_the_download_folder(data2010, tmp_path):
    source = _source(f"file://{data2010['root'] / 'archives'}", tmp_path)
    acquire(source, tmp_path / "raw", progress=False)
    assert sorted(p.name for p in (tmp_path / "downloads").iterdir() if not p.name.endswith(".verified")) == \
        sorted(FILES.values())
    assert (tmp_path / "raw" / "classes.json").read_text() == (data2010["raw"] / "classes.json").read_text()


def test_a_gzipped_jpeg_decodes_as_the_jpeg_inside(data2010):
    with tarfile.open(data2010["generated"].paths["train"]) as outer:
        inner = tarfile.open(fileobj=io.BytesIO(outer.extractfile(f"{wnid(0)}.tar").read()))
        wrapped = inner.extractfile(f"{wnid(0)}_2.JPEG").read()
    assert wrapped[:2] == b"\x1f\x8b"  # the trap is armed (the real n02487347_1956.JPEG)
    plain = gzip.decompress(wrapped)
    assert (resize_center(io.BytesIO(wrapped)) == resize_center(io.BytesIO(plain))).all()


def _copy(data2010, tmp_path):
    folder = tmp_path / "archives"
    shutil.copytree(data2010["root"] / "archives", folder)
    return folder


def _one_line_error(folder, tmp_path, error=(FileNotFoundError, ValueError)) -> str:
    with pytest.raises(error) as caught:
        acquire(_source(folder, tmp_path), tmp_path / "raw", progress=False)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "raw").exists()  # nothing half-written for the resize stage to take
    return str(caught.value)


@pytest.mark.parametrize("key", ["test", "test_truth", "devkit"])
def test_a_missing_file_is_named(data2010, tmp_path, key):
    folder = _copy(data2010, tmp_path)
    (folder / FILES[key]).unlink()
    assert FILES[key] in _one_line_error(folder, tmp_path)


def test_a_devkit_without_meta_mat_is_named(data2010, tmp_path):
    folder = _copy(data2010, tmp_path)
    with tarfile.open(folder / FILES["devkit"]) as tar:
        kept = [(m, tar.extractfile(m).read()) for m in tar if m.isfile() and not m.name.endswith("meta.mat")]
    with tarfile.open(folder / FILES["devkit"], "w:gz") as tar:
        for member, data in kept:
            tar.addfile(member, io.BytesIO(data))
    message = _one_line_error(folder, tmp_path)
    assert FILES["devkit"] in message and f"{DEVKIT_DATA}/meta.mat" in message


def test_a_ground_truth_of_the_wrong_length_is_named(data2010, tmp_path):
    folder = _copy(data2010, tmp_path)
    truth = folder / FILES["test_truth"]
    truth.write_text("".join(truth.read_text().splitlines(keepends=True)[:-1]))
    message = _one_line_error(folder, tmp_path)
    assert FILES["test_truth"] in message and FILES["test"] in message


def test_a_ground_truth_line_that_is_no_class_is_named(data2010, tmp_path):
    folder = _copy(data2010, tmp_path)
    truth = folder / FILES["test_truth"]
    truth.write_text(truth.read_text().replace("1\n", "4\n", 1))  # 4: meta.mat's ancestor synset, not a class
    message = _one_line_error(folder, tmp_path)
    assert FILES["test_truth"] in message and "line" in message


def test_the_val_tar_given_as_the_test_tar_is_refused(data2010, tmp_path):
    folder = _copy(data2010, tmp_path)
    shutil.copyfile(folder / FILES["val"], folder / FILES["test"])  # 6 images against 9 labels
    assert FILES["test_truth"] in _one_line_error(folder, tmp_path)


def test_a_test_archive_moved_after_indexing_is_named_by_resize(data2010, tmp_path):
    folder = _copy(data2010, tmp_path)
    raw = acquire(_source(folder, tmp_path), tmp_path / "raw", progress=False)
    (folder / FILES["test"]).rename(tmp_path / "elsewhere.tar")
    with pytest.raises(FileNotFoundError, match=f"{FILES['test']} is missing or changed .* download stage again"):
        build_store(raw, tmp_path / "store", resize_settings(workers=1), progress=False)


# --- config ------------------------------------------------------------------------------------------------------

def _data(overrides: list[str]) -> DataConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="prepare", overrides=overrides)
    return validate(cfg, PrepareConfig).data


def test_imagenet2010_config_scores_the_test_split():
    data = _data(["data=imagenet2010"])
    assert (data.source.kind, data.eval_split, data.source.verify_md5, data.minival_per_class) == \
        ("ilsvrc2010", "test", False, 10)
    assert _data(["data=imagenet"]).eval_split == "val"


@pytest.mark.parametrize("overrides, key", [
    (["data=imagenet2010", "data.source.verify_md5=true"], "data.source.verify_md5"),
    (["data=embedded", "data.eval_split=test"], "data.eval_split"),
    (["data=imagenet2010", "data.eval_split=train"], "data.eval_split"),
])
def test_impossible_settings_fail_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _data(overrides)


# --- evaluate ----------------------------------------------------------------------------------------------------

@pytest.mark.slow  # trains a net for one epoch: about 15 s
def test_evaluate_scores_the_test_images_and_says_so(data2010, tmp_path):
    """Table 1's row: a net trained on the 2010 store is scored on its test split, never its val split."""
    from alexnet_repro.data.pca import pixel_statistics, write_statistics
    from alexnet_repro.evaluation.config import EvaluateConfig
    from alexnet_repro.evaluation.run import evaluate
    from alexnet_repro.training.run import train
    from conftest import compose_train, data_overrides

    stats = tmp_path / "pca_stats.json"
    write_statistics(*pixel_statistics(data2010["store"], workers=1, progress=False), stats)
    store = {"store": data2010["store"], "stats": stats}
    train(compose_train(["data=imagenet2010", *data_overrides(store), "trainer.max_epochs=1", "logger=none"]),
          tmp_path / "runs" / "seed0")
    overrides = ["experiment_name=baseline", f"runs_dir={tmp_path / 'runs'}", f"out_dir={tmp_path / 'results'}",
                 f"data.store_dir={data2010['store']}", "seeds=[0]", "data=imagenet2010", "profile_name=tiny",
                 "logger=none", "batch_size=16", "workers=0", "features_train_max=0", "features_for=[]"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = validate(compose(config_name="evaluate", overrides=overrides), EvaluateConfig)
    result = evaluate(cfg, progress=False)
    assert result.dataset == "imagenet2010" and result.metrics["split"] == "test"
    assert result.names == ShardReader(data2010["store"], "test").names
    assert result.metrics["num_images"] == 3 * TEST_PER_CLASS
