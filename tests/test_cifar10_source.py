"""data=cifar10: CIFAR-10's python archive read in place through download -> resize -> pca, on a generated archive
of the official format (data/generate_cifar10.py); md5s checked; pickles read without running code."""

import functools
import hashlib
import http.server
import io
import json
import os
import pickle
import pickletools
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from alexnet_repro.basics import ConfigError
from alexnet_repro.data import cifar10
from alexnet_repro.data.config import SourceConfig
from alexnet_repro.data.download import acquire
from alexnet_repro.data.fetch import ChecksumError, NotAnArchive
from alexnet_repro.data.generate_cifar10 import (
    LABEL_NAMES,
    CifarSpec,
    archive_bytes,
    cifar_spec_from,
    generate_cifar10,
    make_images,
    py2_pickle,
)
from alexnet_repro.data.pca import pixel_statistics
from alexnet_repro.data.resize import build_store
from alexnet_repro.data.store import ShardReader, read_info
from conftest import ROOT, resize_settings

SPEC = CifarSpec(train_per_class=6, test_per_class=3, seed=5)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    archive, md5s = generate_cifar10(root / "archives", SPEC, workers=1, progress=False)
    train, test = make_images(SPEC, workers=1)
    return {"archive": archive, "md5s": md5s, "train": train, "test": test, "root": root}


def _source(location, md5=None, verify=True, download_dir="unused"):
    return SourceConfig(kind="cifar10", location=str(location), verify_md5=verify, md5=md5 or {},
                        download_dir=str(download_dir))


def _all_md5s(generated):
    return {cifar10.ARCHIVE: hashlib.md5(generated["archive"].read_bytes()).hexdigest(), **generated["md5s"]}


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{cifar10.FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {Path(m.name).name: tar.extractfile(m).read() for m in tar if m.isfile()}


def test_the_generated_archive_is_in_the_official_format(generated):
    """Read as the dataset page says (encoding='bytes': b'data', b'labels') and as torchvision reads it; the
    pickles name only the numpy globals of the originals, and hold Python 2 strings, not _codecs calls."""
    members = _members(generated["archive"])
    assert set(members) == {*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH, cifar10.META, "readme.html"}
    batch = pickle.loads(members["data_batch_1"], encoding="bytes")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape[1] == 3072
    globals_named = {arg for op, arg, _ in pickletools.genops(members["data_batch_1"]) if op.name == "GLOBAL"}
    assert globals_named == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
    meta = pickle.loads(members["batches.meta"], encoding="bytes")
    assert meta[b"label_names"] == [n.encode() for n in LABEL_NAMES] and meta[b"num_vis"] == 3072

    from torchvision.datasets import CIFAR10

    class Generated(CIFAR10):  # torchvision's reader, given the generated pickles' md5s
        train_list = [[n, generated["md5s"][n]] for n in cifar10.TRAIN_BATCHES]
        test_list = [[cifar10.TEST_BATCH, generated["md5s"][cifar10.TEST_BATCH]]]
        meta = {**CIFAR10.meta, "md5": generated["md5s"][cifar10.META]}

    unpacked = generated["root"] / "unpacked"
    with tarfile.open(generated["archive"], "r:gz") as tar:
        tar.extractall(unpacked, filter="data")
    tv = Generated(str(unpacked), train=True)
    assert np.array_equal(tv.data, generated["train"][0]) and tv.targets == generated["train"][1].tolist()
    assert tv.classes == LABEL_NAMES


def test_the_published_md5s_are_torchvisions():
    from torchvision.datasets import CIFAR10

    assert cifar10.ARCHIVE_MD5 == CIFAR10.tgz_md5 == "c58f30108f718f92721af3b95e74349a"
    assert cifar10.MEMBER_MD5 == {**dict(CIFAR10.train_list + CIFAR10.test_list),
                                  CIFAR10.meta["filename"]: CIFAR10.meta["md5"]}


@pytest.fixture
def server(generated):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(generated["archive"].parent))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_source_over_http_to_store_and_statistics(generated, server, tmp_path):
    """Downloaded from a loopback server, md5-checked, indexed in place, stored 32x32 losslessly, PCA'd."""
    source = _source(f"{server}/{cifar10.ARCHIVE}", _all_md5s(generated), download_dir=tmp_path / "dl")
    raw = acquire(source, tmp_path / "raw", progress=False)
    classes = json.loads((raw / "classes.json").read_text())
    assert [c["wnid"] for c in classes] == LABEL_NAMES
    index = json.loads((raw / "archives.json").read_text())
    assert index["train"]["archive"]["path"] == str((tmp_path / "dl" / cifar10.ARCHIVE).resolve())  # in place
    assert not any(p.name.startswith("data_batch") for p in tmp_path.rglob("*"))  # nothing unpacked

    info_dict = build_store(raw, tmp_path / "store", resize_settings(encoding="raw", workers=2), progress=False)
    info = read_info(tmp_path / "store")
    assert (info.image_size, info.encoding, info.num_classes) == (32, "raw", 10)
    assert {s: info_dict["splits"][s]["count"] for s in ("train", "val")} == {"train": 60, "val": 30}
    assert len(info.splits["train"]["shards"]) == 5  # one shard per batch file
    for split, (images, labels) in (("train", generated["train"]), ("val", generated["test"])):
        reader = ShardReader(tmp_path / "store", split)
        assert np.array_equal(reader.labels, labels)
        assert np.array_equal(np.stack([reader.image(i, 32) for i in range(len(reader))]), images)  # lossless
    assert reader.names[0] == "test_batch/00000"

    stats, mean_image = pixel_statistics(tmp_path / "store", workers=1, progress=False)
    train = generated["train"][0].astype(np.float64) / 255
    assert stats["num_pixels"] == 60 * 32 * 32 and mean_image.shape == (32, 32, 3)
    assert np.allclose(stats["mean_rgb"], train.reshape(-1, 3).mean(0))
    assert np.allclose(stats["covariance"], np.cov(train.reshape(-1, 3).T))
    assert np.allclose(mean_image, train.mean(0), atol=1e-6)

    # A second resize reuses every shard: the archive is unchanged.
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "store").glob("*.bin")}
    build_store(raw, tmp_path / "store", resize_settings(encoding="raw", workers=1), progress=False)
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "store").glob("*.bin")}


def test_the_published_md5_refuses_another_archive_in_one_line(generated, tmp_path):
    """data=cifar10 on a file that is not the official archive: the published md5 stops it before any read."""
    copy = tmp_path / cifar10.ARCHIVE
    copy.write_bytes(generated["archive"].read_bytes())
    with pytest.raises(ChecksumError) as err:
        acquire(_source(tmp_path), tmp_path / "raw", progress=False)
    message = str(err.value)
    assert "\n" not in message and str(copy) in message and cifar10.ARCHIVE_MD5 in message
    assert not (tmp_path / "raw").exists()


def test_the_stage_refuses_a_wrong_md5_in_one_line(generated, tmp_path):
    copy = tmp_path / cifar10.ARCHIVE
    copy.write_bytes(generated["archive"].read_bytes())
    done = subprocess.run([sys.executable, str(ROOT / "src" / "download.py"), "data=cifar10",
                           f"data.source.location={copy}", f"paths.data={tmp_path / 'data'}"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(copy) in lines[0] and "md5" in lines[0], done.stderr


def test_a_pickle_of_the_wrong_md5_is_refused_naming_it(generated, tmp_path):
    md5 = {**_all_md5s(generated), "data_batch_3": "0" * 32}
    with pytest.raises(cifar10.CifarFormatError) as err:
        acquire(_source(generated["archive"], md5), tmp_path / "raw", progress=False)
    assert "\n" not in str(err.value) and f"{generated['archive']}:{cifar10.FOLDER}/data_batch_3" in str(err.value)


class _Payload:
    """Unpickling this runs a shell command that writes a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_pickle_that_would_run_code_runs_nothing(generated, tmp_path, protocol):
    marker = tmp_path / "ran"
    evil = pickle.dumps({"data": _Payload(marker), "labels": []}, protocol=protocol)
    pickle.loads(evil)  # the payload is live: the ordinary unpickler runs it
    assert marker.exists()
    marker.unlink()
    members = _members(generated["archive"])
    archive = tmp_path / cifar10.ARCHIVE
    archive.write_bytes(_tar_gz({**members, "data_batch_2": evil}))
    with pytest.raises(cifar10.CifarFormatError) as err:
        acquire(_source(archive, verify=False), tmp_path / "raw", progress=False)  # no md5 to stop it first
    message = str(err.value)
    assert not marker.exists()
    assert "\n" not in message and f"{archive}:{cifar10.FOLDER}/data_batch_2" in message and "system" in message


@pytest.mark.parametrize("payload", [
    b"cbuiltins\neval\n(S'1+1'\ntR.",  # a global other than numpy's three
    b"\x80\x02cnumpy\ndtype\nU\x01O\x85R.",  # an object dtype: arrays of Python objects
    b"\x80\x02}q\x00.",  # a dict that is not a batch (resolved, then refused by shape)
    b"not a pickle",
])
def test_hostile_or_foreign_pickles_are_one_line(payload):
    with pytest.raises(cifar10.CifarFormatError) as err:
        cifar10.batch_arrays(cifar10.load_pickle(payload, "somewhere/data_batch_1"), "somewhere/data_batch_1")
    assert "\n" not in str(err.value) and str(err.value).startswith("somewhere/data_batch_1: ")


def test_a_missing_batch_or_a_damaged_archive_is_one_line(generated, tmp_path):
    members = _members(generated["archive"])
    archive = tmp_path / cifar10.ARCHIVE
    archive.write_bytes(_tar_gz({k: v for k, v in members.items() if k != "test_batch"}))
    with pytest.raises(cifar10.CifarFormatError, match="holds no cifar-10-batches-py/test_batch"):
        acquire(_source(archive, verify=False), tmp_path / "raw", progress=False)
    archive.write_bytes(generated["archive"].read_bytes()[: 5000])
    with pytest.raises(NotAnArchive) as err:  # the download stage's check of a file with no md5
        acquire(_source(archive, verify=False), tmp_path / "raw", progress=False)
    assert str(archive) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(tarfile.ReadError) as err:  # and the reader's own
        cifar10.index_cifar10(archive, tmp_path / "raw", {})
    assert str(archive) in str(err.value) and "\n" not in str(err.value)


def test_the_embedded_set_is_generated_the_same_and_read_by_the_same_reader(tmp_path):
    spec = {"train_per_class": 3, "test_per_class": 2, "seed": 1}
    source = SourceConfig(kind="cifar10_embedded", location=str(tmp_path / "gen"), verify_md5=True, generated=spec)
    acquire(source, tmp_path / "raw", workers=1, progress=False)
    archive = tmp_path / "gen" / cifar10.ARCHIVE
    first = archive.read_bytes(), archive.stat().st_mtime_ns
    acquire(source, tmp_path / "raw", workers=1, progress=False)
    assert (archive.read_bytes(), archive.stat().st_mtime_ns) == first  # same bytes, file left alone
    index = json.loads((tmp_path / "raw" / "archives.json").read_text())
    assert [b["count"] for b in index["train"]["batches"]] == [6] * 5 and index["val"]["batches"][0]["count"] == 20
    with pytest.raises(ConfigError, match="data.source.generated.classes"):
        cifar_spec_from({"classes": 4})


def test_py2_pickle_writes_python2_strings():
    ops = [op.name for op, _, _ in pickletools.genops(py2_pickle({"k": ["a" * 300, 7, 70000]}))]
    assert "SHORT_BINSTRING" in ops and "BINSTRING" in ops and "BINUNICODE" not in ops
    assert pickle.loads(py2_pickle({"k": ["a" * 300, 7, 70000]}), encoding="latin1") == {"k": ["a" * 300, 7, 70000]}


def test_the_archive_bytes_depend_only_on_the_images():
    train, test = make_images(CifarSpec(2, 1, 0), workers=1)
    assert archive_bytes(train, test, LABEL_NAMES) == archive_bytes(train, test, LABEL_NAMES)
