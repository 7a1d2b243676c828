"""Faults in the files between stages: the store, the PCA statistics and the results each name the damaged file
and the stage that writes it again, in one line; the store's fingerprint sees the images themselves."""

from __future__ import annotations

import errno
import json
import shutil

import numpy as np
import pytest

from alexnet_repro import results
from alexnet_repro.data import pixel_stats
from alexnet_repro.data import resize as resize_mod
from alexnet_repro.data.pixel_stats import PixelStats
from alexnet_repro.data.resize import build_store
from alexnet_repro.data.store import ShardReader, StoreError, fingerprint, read_info
from conftest import resize_settings


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.fixture()
def store(tiny_data, tmp_path):
    copy = tmp_path / "store"
    shutil.copytree(tiny_data["store"], copy)
    return copy


@pytest.mark.timeout(300)
def test_swapping_images_between_classes_changes_the_store_fingerprint(tiny_data, tmp_path):
    """The fingerprint was the hash of index.json (classes, shard names, counts): images swapped between two
    classes, names kept, left it unchanged, so a killed run resumed on relabelled data."""
    raw = tmp_path / "raw"
    shutil.copytree(tiny_data["tree"], raw)
    store = tmp_path / "store"
    build_store(raw, store, resize_settings(shard_size=20, workers=1), progress=False)
    before = fingerprint(store)
    build_store(raw, tmp_path / "again", resize_settings(shard_size=20, workers=1), progress=False)
    assert fingerprint(tmp_path / "again") == before  # the same images, the same fingerprint
    first, second = (sorted(d.iterdir())[0] for d in sorted((raw / "train").iterdir())[:2])
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    build_store(raw, store, resize_settings(shard_size=20, workers=1), progress=False)
    assert read_info(store).splits["train"]["count"] == read_info(tmp_path / "again").splits["train"]["count"]
    assert fingerprint(store) != before


@pytest.mark.parametrize("change, says", [
    (lambda index: index.pop("format"), "lacks 'format'"),
    (lambda index: index.update(format=1), "has format 1, this code reads 2"),
    (lambda index: index.pop("classes"), "lacks 'classes'"),
    (lambda index: index["splits"]["train"].pop("digests"), "split 'train' lacks one of"),
])
def test_an_index_of_another_format_or_missing_a_key_is_one_line(store, change, says):
    index = json.loads((store / "index.json").read_text())
    change(index)
    (store / "index.json").write_text(json.dumps(index))
    for read in (read_info, fingerprint, lambda s: ShardReader(s, "train")):
        with pytest.raises(StoreError) as err:
            read(store)
        assert _one_line(err).startswith(f"{store / 'index.json'}") and says in str(err.value)
        assert str(err.value).endswith("re-run the resize stage (`dvc repro resize`)")


def test_a_shard_cut_short_is_one_line_naming_it(store):
    """A multi-line DataLoader traceback (a failed decode in a worker) before."""
    shard = store / "train-00001.bin"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(StoreError) as err:
        ShardReader(store, "train")
    assert _one_line(err).startswith(f"{shard} has ") and "re-run the resize stage" in str(err.value)
    ShardReader(store, "val")  # the other split is whole


def test_a_full_disk_in_resize_names_the_file(tiny_data, tmp_path, monkeypatch):
    """`[Errno 28] No space left on device` named no file."""
    def no_space(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(resize_mod, "encode_image", no_space)
    with pytest.raises(OSError) as err:
        build_store(tiny_data["tree"], tmp_path / "store", resize_settings(shard_size=20, workers=1), progress=False)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "store" / "train-00000.bin")
    assert str(tmp_path / "store" / "train-00000.bin") in str(err.value)


@pytest.mark.parametrize("change, says", [
    (lambda stats: stats.pop("eigenvectors"), "lacks 'eigenvectors'"),
    (lambda stats: stats.pop("version"), "lacks 'version'"),  # a file of the code before versions
    (lambda stats: stats.update(version=7), "has version 7, this code reads 1"),
    (lambda stats: stats.update(mean_rgb=[0.5]), "mean_rgb has shape (1,), not (3,)"),
])
def test_pca_statistics_missing_a_key_are_one_line_naming_the_pca_stage(tiny_data, tmp_path, change, says):
    path = tmp_path / "pca_stats.json"
    shutil.copyfile(tiny_data["stats"].parent / pixel_stats.MEAN_IMAGE_FILE, tmp_path / pixel_stats.MEAN_IMAGE_FILE)
    stats = json.loads(tiny_data["stats"].read_text())
    PixelStats.load(tiny_data["stats"])  # the fixture's own file reads
    change(stats)
    path.write_text(json.dumps(stats))
    with pytest.raises(pixel_stats.StatsError) as err:
        PixelStats.load(path)
    assert _one_line(err).startswith(str(path)) and says in str(err.value)
    assert str(err.value).endswith("re-run the pca stage (`dvc repro pca`)")


def test_a_mean_image_cut_short_is_one_line(tiny_data, tmp_path):
    shutil.copyfile(tiny_data["stats"], tmp_path / "pca_stats.json")
    image = tiny_data["stats"].parent / pixel_stats.MEAN_IMAGE_FILE
    (tmp_path / pixel_stats.MEAN_IMAGE_FILE).write_bytes(image.read_bytes()[:1000])
    with pytest.raises(pixel_stats.StatsError, match="mean_image.npy cannot be read .*re-run the pca stage") as err:
        PixelStats.load(tmp_path / "pca_stats.json")
    _one_line(err)


def _result_folder(tmp_path):
    folder = tmp_path / "results" / "baseline"
    result = results.ExperimentResult(
        "baseline", "embedded", "tiny", ["seed0"], np.array([0, 1]), ["a", "b"],
        {"center": np.zeros((1, 2, 5), int)}, {"center": np.zeros((2, 5), int)}, {"num_images": 2},
        {"seed0": results.SeedRun({"seed": 0}, {}, {"epoch": [0.0]})}, [{"wnid": "n1"}], 2, {"git_commit": "x"})
    results.write(folder, result)
    return folder


@pytest.mark.parametrize("damage, says", [
    (lambda f: (f / "result.json").write_text('{"schema_version": 1, "experiment": "base'), "is not valid JSON"),
    (lambda f: (f / "result.json").write_text("{}"), "lacks 'schema_version', 'experiment'"),
    (lambda f: (f / "result.json").write_text('{"schema_version": 1}'), "lacks 'experiment', 'dataset'"),
    (lambda f: (f / "result.npz").write_bytes((f / "result.npz").read_bytes()[:50]), "result.npz cannot be read"),
    (lambda f: (f / "result.npz").unlink(), "result.npz cannot be read"),
])
def test_a_damaged_result_is_one_line_naming_the_file_and_the_evaluate_stage(tmp_path, damage, says):
    """Unterminated-string errors without the file's name, a KeyError, a BadZipFile traceback before."""
    folder = _result_folder(tmp_path)
    assert results.load(folder).experiment == "baseline"
    damage(folder)
    with pytest.raises(results.ResultError) as err:
        results.load(folder)
    assert _one_line(err).startswith(str(folder / "result.")) and says in str(err.value)
    assert str(err.value).endswith("re-run its evaluate stage (`dvc repro evaluate@baseline`)")
    found, skipped = results.load_all(folder.parent)  # the report lists it as skipped, with the reason
    assert found == {} and says in skipped[0]


@pytest.mark.parametrize("name, damage", [
    ("train_summary.json", '{"epochs": '),
    ("resolved_config.yaml", "model: [unclosed"),
    ("history.csv", "epoch,step\n0,abc\n"),
])
def test_a_damaged_file_of_a_finished_run_is_one_line_naming_it(tmp_path, name, damage):
    """A bare `Expecting value: line 1 column 1 (char 0)`, naming no file, before."""
    run = tmp_path / "seed0"
    run.mkdir()
    (run / "train_summary.json").write_text('{"epochs": 1}')
    (run / "resolved_config.yaml").write_text("model: {width: 1}\n")
    (run / "history.csv").write_text("epoch,step\n0,8\n")
    assert results.load_run(run).history == {"epoch": [0.0], "step": [8.0]}
    (run / name).write_text(damage)
    with pytest.raises(results.ResultError) as err:
        results.load_run(run)
    assert _one_line(err).startswith(f"{run / name} cannot be read (") and "train that run again" in str(err.value)


def test_a_huge_tar_member_is_extracted_in_bounded_memory(tmp_path):
    """A small .tgz holding a 300 MB member of zeros (a decompression bomb's shape): extraction streams it through a
    spool of at most 64 MB (safe_tar.SPOOL_BYTES) instead of reading it into memory whole (4.9 GB RSS for 2 GiB)."""
    import gzip
    import io
    import subprocess
    import tarfile

    from conftest import PYTHON, ROOT, child_env

    size = 300 << 20
    archive = tmp_path / "bomb.tgz"
    with gzip.open(archive, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(bytes(size)))
    assert archive.stat().st_size < size // 100
    # VmHWM, this process's own peak (getrusage's ru_maxrss carries the forking pytest's peak across exec)
    probe = ("import re, sys; from pathlib import Path; from alexnet_repro.data.safe_tar import extract_to; "
             "extract_to(sys.argv[1], Path(sys.argv[2])); "
             "print(re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text()).group(1))")
    done = subprocess.run([PYTHON, "-c", probe, str(archive), str(tmp_path / "out")], capture_output=True, text=True,
                          env=child_env(), cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "zeros.bin").stat().st_size == size
    peak_mb = int(done.stdout.split()[-1]) / 1024
    assert peak_mb < 200, f"peak RSS {peak_mb:.0f} MB for a {size >> 20} MB member"


def test_a_16_bit_grey_png_is_scaled_to_8_bits_not_clipped_to_white():
    """Pillow's convert("RGB") clips 16-bit values: a 16-bit PNG became an all-white image in the store."""
    import io

    import numpy as np
    from PIL import Image

    from alexnet_repro.data.resize import resize_center

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))  # dark on the left, white on the right
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, format="PNG")
    assert Image.open(io.BytesIO(buf.getvalue())).mode.startswith("I")  # a 16-bit image, as Pillow reads it
    rgb = resize_center(io.BytesIO(buf.getvalue()), 32, name="ramp.png")
    assert rgb.shape == (32, 32, 3) and (rgb[..., 0] == rgb[..., 2]).all()
    assert rgb[:, 0].mean() < 20 and rgb[:, -1].mean() > 235 and 100 < rgb.mean() < 155  # the ramp, scaled
