"""Downloads over real HTTP on 127.0.0.1: streaming, resume, checksums, and the ILSVRC source end to end."""

import functools
import hashlib
import http.server
import json
import threading

import pytest

from alexnet_repro.data import download as acquire_mod
from alexnet_repro.data.fetch import ChecksumError, fetch


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with Range support (as S3 and image-net.org do) and records the requests."""

    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        RangeHandler.requests.append((self.path, self.headers.get("Range")))
        path = self.translate_path(self.path)
        try:
            data = open(path, "rb").read()
        except OSError:
            self.send_error(404)
            return
        start = 0
        if rng := self.headers.get("Range"):
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def server(tiny_data):
    handler = functools.partial(RangeHandler, directory=str(tiny_data["archives"]["train"].parent))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    RangeHandler.requests = []
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_verifies_and_names_the_file(server, tiny_data, tmp_path):
    source = tiny_data["archives"]["val"]
    out = fetch(f"{server}/{source.name}", tmp_path / source.name, md5(source), progress=False)
    assert out.read_bytes() == source.read_bytes()
    assert not (tmp_path / f"{source.name}.part").exists()


def test_download_resumes_a_partial_file(server, tiny_data, tmp_path):
    source = tiny_data["archives"]["train"]
    part = tmp_path / f"{source.name}.part"
    half = source.stat().st_size // 2
    part.write_bytes(source.read_bytes()[:half])
    fetch(f"{server}/{source.name}", tmp_path / source.name, md5(source), progress=False)
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()
    assert RangeHandler.requests[-1] == (f"/{source.name}", f"bytes={half}-")


def test_wrong_checksum_is_an_error_and_nothing_is_left(server, tiny_data, tmp_path):
    source = tiny_data["archives"]["val"]
    with pytest.raises(ChecksumError, match=source.name):
        fetch(f"{server}/{source.name}", tmp_path / source.name, "0" * 32, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_missing_remote_file_is_an_error(server, tmp_path):
    with pytest.raises(Exception, match="404"):
        fetch(f"{server}/nope.tar", tmp_path / "nope.tar", None, progress=False)
    assert not (tmp_path / "nope.tar").exists()


def test_ilsvrc_source_over_http(server, tiny_data, tmp_path, monkeypatch):
    """The real ILSVRC path: three archives by URL, md5-checked, ingested. The published md5s are swapped for
    the generated archives' own."""
    meta = {k: (p.name, md5(p)) for k, p in tiny_data["archives"].items()}
    monkeypatch.setattr(acquire_mod, "ARCHIVE_META", meta)
    from alexnet_repro.config import SourceConfig

    source = SourceConfig(kind="ilsvrc", location=server, verify_md5=True, download_dir=str(tmp_path / "archives"))
    raw = acquire_mod.acquire(source, tmp_path / "raw", progress=False)
    assert sorted(p.name for p in (tmp_path / "archives").iterdir()) == sorted(n for n, _ in meta.values())
    assert sorted(p.name for p in (raw / "train").iterdir()) == sorted(p.name for p in (tiny_data["raw"] / "train").iterdir())
    assert len(list((raw / "val").rglob("*.JPEG"))) == len(list((tiny_data["raw"] / "val").rglob("*.JPEG")))


def test_published_checksums_are_the_official_ones():
    assert {k: v[1] for k, v in acquire_mod.ARCHIVE_META.items()} == {
        "train": "1d675b47d978889d74fa0da5fadfb00e", "val": "29b22e2961454d5413ddabcf34fc5622",
        "devkit": "fa75699e90414af021442c21a62c3abf"}


def test_imagenette_source_over_http(tiny_data, tmp_path, monkeypatch):
    """Imagenette's layout (imagenette2-320/{train,val}/<wnid>/*.JPEG in a .tgz), served on loopback."""
    import tarfile

    from alexnet_repro.config import SourceConfig

    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "imagenette2-320.tgz", "w:gz") as tgz:
        for split in ("train", "val"):
            tgz.add(tiny_data["raw"] / split, arcname=f"imagenette2-320/{split}")
    handler = functools.partial(RangeHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_port}/imagenette2-320.tgz"
        source = SourceConfig(kind="imagenette", location=url, verify_md5=True, download_dir=str(tmp_path / "dl"))
        raw = acquire_mod.acquire(source, tmp_path / "raw", progress=False)
    finally:
        httpd.shutdown()
    classes = json.loads((raw / "classes.json").read_text())
    assert [c["wnid"] for c in classes] == sorted(p.name for p in (tiny_data["raw"] / "train").iterdir())
    for split in ("train", "val"):
        assert len(list((raw / split).rglob("*.JPEG"))) == len(list((tiny_data["raw"] / split).rglob("*.JPEG")))
    assert (tmp_path / "dl" / "imagenette2-320.tgz").exists()  # kept where data.source.download_dir says


def test_imagenette_published_checksum_is_used(tiny_data, tmp_path, monkeypatch):
    import yaml

    from alexnet_repro.config import SourceConfig
    from conftest import CONF

    configured = yaml.safe_load((CONF / "data" / "imagenette.yaml").read_text())["source"]["location"]
    assert len(acquire_mod.IMAGENETTE_MD5[configured]) == 32  # the configured archive has a published md5
    served = tmp_path / "served"
    served.mkdir()
    (served / "imagenette2-320.tgz").write_bytes(b"not the published archive")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_port}/imagenette2-320.tgz"
    monkeypatch.setitem(acquire_mod.IMAGENETTE_MD5, url, acquire_mod.IMAGENETTE_MD5[configured])
    try:
        source = SourceConfig(kind="imagenette", location=url, verify_md5=True, download_dir=str(tmp_path / "dl"))
        with pytest.raises(ChecksumError, match="imagenette2-320.tgz"):
            acquire_mod.acquire(source, tmp_path / "raw", progress=False)
    finally:
        httpd.shutdown()
    assert not (tmp_path / "raw").exists()
