"""Resize geometry and colour, bad files, the shard store, interrupted re-runs, PCA against numpy."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from alexnet_repro.data import resize as resize_mod
from alexnet_repro.data.pca import pixel_statistics, sign_fixed
from alexnet_repro.data.resize import BadImageError, build_store, resize_center
from alexnet_repro.data.store import ShardReader, read_info
from conftest import resize_settings


def _save(tmp_path, array, name="x.JPEG", mode=None, fmt="JPEG"):
    im = Image.fromarray(array)
    if mode:
        im = im.convert(mode)
    path = tmp_path / name
    im.save(path, format=fmt, quality=95)
    return path


def test_shorter_side_256_and_centred(tmp_path):
    # 600x300 image: left third red, middle green, right third blue -> the central 300x300 is all green
    a = np.zeros((300, 900, 3), np.uint8)
    a[:, :300, 0] = 255
    a[:, 300:600, 1] = 255
    a[:, 600:, 2] = 255
    out = resize_center(_save(tmp_path, a, fmt="PNG", name="x.png"))
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    assert out[:, 2:-2, 1].min() > 250 and out[:, 2:-2, [0, 2]].max() < 5
    # portrait: the central square vertically
    b = np.zeros((900, 300, 3), np.uint8)
    b[300:600] = 200
    assert resize_center(_save(tmp_path, b, fmt="PNG", name="y.png"))[2:-2].min() > 195


def test_small_images_are_upscaled(tmp_path):
    out = resize_center(_save(tmp_path, np.full((100, 150, 3), 77, np.uint8)))
    assert out.shape == (256, 256, 3) and abs(int(out.mean()) - 77) <= 2


def test_grayscale_cmyk_and_png_in_disguise_become_correct_rgb(tmp_path):
    colour = np.zeros((300, 400, 3), np.uint8)
    colour[...] = (200, 60, 30)
    gray = resize_center(_save(tmp_path, colour, "g.JPEG", mode="L"))
    assert gray.shape == (256, 256, 3) and np.ptp(gray.reshape(-1, 3), axis=1).max() <= 1
    cmyk = resize_center(_save(tmp_path, colour, "c.JPEG", mode="CMYK"))
    assert np.abs(cmyk.reshape(-1, 3).mean(0) - (200, 60, 30)).max() < 6  # colours survive, not inverted
    png = resize_center(_save(tmp_path, colour, "p.JPEG", fmt="PNG"))
    assert np.abs(png.reshape(-1, 3).mean(0) - (200, 60, 30)).max() < 2


@pytest.mark.parametrize("content", [b"", b"\xff\xd8\xff\xe0 truncated", b"not an image at all"])
def test_bad_files_name_the_file(tmp_path, content):
    path = tmp_path / "broken.JPEG"
    path.write_bytes(content)
    with pytest.raises(BadImageError, match="broken.JPEG"):
        resize_center(path)


def test_truncated_jpeg_names_the_file(tmp_path):
    good = _save(tmp_path, np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    cut = tmp_path / "cut.JPEG"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(BadImageError, match="cut.JPEG"):
        resize_center(cut)


def _copy_raw(tiny, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(tiny["tree"], raw)
    return raw


def test_bad_file_stops_the_stage_or_is_skipped_and_counted(tiny_data, tmp_path):
    raw = _copy_raw(tiny_data, tmp_path)
    victim = sorted((raw / "train").rglob("*.JPEG"))[3]
    victim.write_bytes(b"")
    with pytest.raises(BadImageError, match=victim.name):
        build_store(raw, tmp_path / "store", resize_settings(shard_size=20, workers=1), progress=False)
    assert not (tmp_path / "store" / "index.json").exists()
    index = build_store(raw, tmp_path / "store", resize_settings(shard_size=20, workers=1, skip_bad=True), progress=False)
    assert len(index["skipped"]) == 1 and victim.name in index["skipped"][0]
    assert index["splits"]["train"]["count"] == len(ShardReader(tiny_data["store"], "train")) - 1


def test_store_round_trip_matches_direct_resize(tiny_data):
    reader = ShardReader(tiny_data["store"], "val")
    info = read_info(tiny_data["store"])
    assert info.encoding == "jpeg" and len(reader) == 4 * 6
    assert len(info.splits["val"]["shards"]) == 2  # a few shards, not a file per image
    name, label = reader.names[0], int(reader.labels[0])
    assert name.split("/")[0] == info.classes[label]["wnid"]  # the store keeps <class>/<file> names
    source = tiny_data["tree"] / "val" / name
    direct = resize_center(source).astype(int)
    assert np.abs(reader.image(0).astype(int) - direct).mean() < 3  # JPEG q90 round trip


def test_raw_encoding_is_exact(tiny_data, tmp_path):
    build_store(tiny_data["tree"], tmp_path / "raw_store", resize_settings(encoding="raw", shard_size=50, workers=1), progress=False)
    reader = ShardReader(tmp_path / "raw_store", "train")
    path = tiny_data["tree"] / "train" / reader.names[5]
    assert np.array_equal(reader.image(5), resize_center(path))


def test_interrupted_resize_redoes_only_unfinished_shards(tiny_data, tmp_path, monkeypatch):
    store = tmp_path / "store"
    build_store(tiny_data["tree"], store, resize_settings(shard_size=20, workers=1), progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in store.glob("*.bin")}
    # simulate a kill: one shard's table missing, a half-written temp file, no index
    (store / "train-00001.json").unlink()
    (store / ".train-00002.bin.abc.tmp").write_bytes(b"half")
    (store / "index.json").unlink()
    done = []
    original = resize_mod._run_job
    monkeypatch.setattr(resize_mod, "_run_job", lambda job: done.append(job.stem) or original(job))
    build_store(tiny_data["tree"], store, resize_settings(shard_size=20, workers=1), progress=False)
    assert done == ["train-00001"]
    assert (store / "index.json").exists()
    after = {p.name: p.stat().st_mtime_ns for p in store.glob("*.bin")}
    assert all(after[n] == before[n] for n in before if n != "train-00001.bin")


def test_pca_matches_numpy(tiny_data):
    stats, mean_image = pixel_statistics(tiny_data["store"], workers=2, progress=False)
    reader = ShardReader(tiny_data["store"], "train")
    pixels = np.concatenate([reader.image(i).reshape(-1, 3) for i in range(len(reader))]).astype(np.float64) / 255
    cov = np.cov(pixels, rowvar=False)
    np.testing.assert_allclose(stats["covariance"], cov, rtol=1e-6)
    np.testing.assert_allclose(stats["mean_rgb"], pixels.mean(0), rtol=1e-6)
    values, vectors = np.linalg.eigh(cov)
    np.testing.assert_allclose(stats["eigenvalues"], values[::-1], rtol=1e-6)
    np.testing.assert_allclose(stats["eigenvectors"], sign_fixed(vectors[:, ::-1]), rtol=1e-6, atol=1e-9)
    assert stats["eigenvalues"] == sorted(stats["eigenvalues"], reverse=True)
    images = np.stack([reader.image(i) for i in range(len(reader))]).astype(np.float64) / 255
    np.testing.assert_allclose(mean_image, images.mean(0), rtol=1e-5, atol=1e-6)


def test_pca_subset_and_written_files(tiny_data):
    stats, _ = pixel_statistics(tiny_data["store"], max_images=10, workers=1, progress=False)
    assert stats["num_images"] == 10
    written = json.loads(tiny_data["stats"].read_text())
    assert written["pixel_scale"] == "[0, 1]" and (tiny_data["stats"].parent / written["mean_image_file"]).exists()


def test_sign_rule():
    v = np.array([[0.1, -0.9], [-0.8, 0.2]])
    fixed = sign_fixed(v)
    assert fixed[1, 0] > 0 and fixed[0, 1] > 0


def test_a_shard_is_rebuilt_when_its_inputs_change(tiny_data, tmp_path, monkeypatch):
    """Same shard name, other inputs (a replaced file, a relabelled class, another quality): rebuilt."""
    raw = _copy_raw(tiny_data, tmp_path)
    store = tmp_path / "store"
    build_store(raw, store, resize_settings(shard_size=20, workers=1), progress=False)
    done = []
    original = resize_mod._run_job
    monkeypatch.setattr(resize_mod, "_run_job", lambda job: done.append(job.stem) or original(job))
    build_store(raw, store, resize_settings(shard_size=20, workers=1), progress=False)
    assert done == []  # nothing changed: every shard reused
    victim = sorted((raw / "val").rglob("*.JPEG"))[0]
    victim.write_bytes(sorted((raw / "val").rglob("*.JPEG"))[-1].read_bytes())  # same name, other bytes
    build_store(raw, store, resize_settings(shard_size=20, workers=1), progress=False)
    assert done == ["val-00000"]
    done.clear()
    build_store(raw, store, resize_settings(shard_size=20, quality=80, workers=1), progress=False)
    assert len(done) == len(list(store.glob("*.bin")))  # another encoding: every shard


def test_a_decompression_bomb_is_a_bad_file_not_a_traceback(tmp_path, monkeypatch):
    path = tmp_path / "bomb.JPEG"  # a PNG named .JPEG goes through Pillow (JPEGs decode scaled down, bounded)
    Image.new("RGB", (300, 300)).save(path, format="PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 90,000 pixels > 2 x 100: Pillow's bomb error
    with pytest.raises(BadImageError, match="bomb.JPEG"):
        resize_center(path)


def test_outputs_follow_the_umask(tiny_data, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        build_store(tiny_data["raw"], tmp_path / "store", resize_settings(shard_size=50, workers=1), progress=False)
    finally:
        os.umask(old)
    assert (tmp_path / "store" / "index.json").stat().st_mode & 0o777 == 0o644  # not tempfile's 0600
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in (tmp_path / "store").glob("*.bin"))
