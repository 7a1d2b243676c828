"""Downloads over real HTTP on 127.0.0.1: streaming, resume, cut-off bodies, servers that ignore Range,
checksums, and the ILSVRC source end to end."""

import functools
import hashlib
import http.server
import json
import threading

import pytest

from alexnet_repro.basics import ConfigError
from alexnet_repro.data import download as acquire_mod
from alexnet_repro.data.fetch import ChecksumError, IncompleteDownload, fetch


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with Range support (as S3 and image-net.org do) and records the requests. Faults on
    demand: `cut_at` ends the body at that byte of the file while the headers announce all of it (a dropped
    connection); `ignore_range` answers every request with the whole file (some mirrors do); `chunked` sends
    the body with Transfer-Encoding: chunked and no Content-Length."""

    requests: list = []
    cut_at: int | None = None
    ignore_range = False
    chunked = False

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
        if (rng := self.headers.get("Range")) and not RangeHandler.ignore_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        end = len(data) if RangeHandler.cut_at is None else RangeHandler.cut_at
        if RangeHandler.chunked:  # one chunk announcing the rest of the file, then (maybe) cut short
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(f"{len(data) - start:x}\r\n".encode() + data[start:end])
            if end == len(data):
                self.wfile.write(b"\r\n0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:end])


@pytest.fixture
def server(tiny_data):
    handler = functools.partial(RangeHandler, directory=str(tiny_data["archives"]["train"].parent))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    RangeHandler.requests = []
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    RangeHandler.cut_at, RangeHandler.ignore_range, RangeHandler.chunked = None, False, False


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


def test_wrong_checksum_sets_the_bytes_aside_and_starts_again(server, tiny_data, tmp_path):
    """A finished but wrong file is not resumed into, nor thrown away: it is moved to <name>.bad, which the
    error names, and the next try downloads from byte 0."""
    source = tiny_data["archives"]["val"]
    bad = tmp_path / f"{source.name}.bad"
    with pytest.raises(ChecksumError, match=f"{source.name}.*does not match.*{bad}") as failed:
        fetch(f"{server}/{source.name}", tmp_path / source.name, "0" * 32, progress=False)
    assert "\n" not in str(failed.value)
    assert sorted(tmp_path.iterdir()) == [bad] and bad.read_bytes() == source.read_bytes()
    fetch(f"{server}/{source.name}", tmp_path / source.name, md5(source), progress=False)
    assert RangeHandler.requests[-1] == (f"/{source.name}", None)  # from zero, not resumed into the bad copy
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()


def test_wrong_checksum_of_a_local_copy_leaves_nothing(tiny_data, tmp_path):
    source = tiny_data["archives"]["val"]  # a local source keeps its bytes: the copy is simply deleted
    with pytest.raises(ChecksumError, match=source.name):
        fetch(str(source), tmp_path / "out" / source.name, "0" * 32, progress=False)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("checked", [False, True], ids=["no-md5", "md5"])
def test_cut_off_download_is_an_error_and_the_next_try_resumes(server, tiny_data, tmp_path, checked):
    """The server announces the whole length and closes the connection half way. Without an md5 the short
    file used to become the archive."""
    source = tiny_data["archives"]["train"]
    url, size, half = f"{server}/{source.name}", source.stat().st_size, source.stat().st_size // 2
    part = tmp_path / f"{source.name}.part"
    RangeHandler.cut_at = half
    with pytest.raises(IncompleteDownload, match=f"{url}: .*{half:,} of {size:,}.*{part}") as failed:
        fetch(url, tmp_path / source.name, md5(source) if checked else None, progress=False)
    assert "\n" not in str(failed.value)
    assert sorted(tmp_path.iterdir()) == [part] and part.read_bytes() == source.read_bytes()[:half]
    RangeHandler.cut_at = None
    fetch(url, tmp_path / source.name, md5(source) if checked else None, progress=False)
    assert RangeHandler.requests[-1] == (f"/{source.name}", f"bytes={half}-")
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()


def test_cut_off_resumed_download_is_checked_against_the_content_range_total(server, tiny_data, tmp_path):
    source = tiny_data["archives"]["train"]
    data, size = source.read_bytes(), source.stat().st_size
    part = tmp_path / f"{source.name}.part"
    part.write_bytes(data[: size // 4])
    RangeHandler.cut_at = size // 2  # 206 with Content-Length size - size//4, but only up to size//2
    with pytest.raises(IncompleteDownload, match=f"{size // 2:,} of {size:,}"):
        fetch(f"{server}/{source.name}", tmp_path / source.name, None, progress=False)
    assert part.read_bytes() == data[: size // 2]
    RangeHandler.cut_at = None
    fetch(f"{server}/{source.name}", tmp_path / source.name, md5(source), progress=False)
    assert (tmp_path / source.name).read_bytes() == data


def test_server_ignoring_range_starts_again_from_zero(server, tiny_data, tmp_path):
    """A 200 to a ranged request is the whole file: the part is truncated, not appended to, and a cut in
    that answer is caught as well."""
    source = tiny_data["archives"]["train"]
    data, half = source.read_bytes(), source.stat().st_size // 2
    part = tmp_path / f"{source.name}.part"
    part.write_bytes(b"x" * 1000)  # not a start of the file: appending the rest to it would corrupt it
    RangeHandler.ignore_range, RangeHandler.cut_at = True, half
    with pytest.raises(IncompleteDownload, match=f"{half:,} of {len(data):,}"):
        fetch(f"{server}/{source.name}", tmp_path / source.name, None, progress=False)
    assert RangeHandler.requests[-1] == (f"/{source.name}", "bytes=1000-")
    assert part.read_bytes() == data[:half]
    RangeHandler.cut_at = None
    fetch(f"{server}/{source.name}", tmp_path / source.name, md5(source), progress=False)
    assert (tmp_path / source.name).read_bytes() == data


def test_broken_chunked_body_is_an_error_and_the_bytes_are_kept(server, tiny_data, tmp_path):
    """Without a Content-Length the only sign of a cut is http.client's IncompleteRead: one line too."""
    source = tiny_data["archives"]["train"]
    half = source.stat().st_size // 2
    RangeHandler.chunked, RangeHandler.cut_at = True, half
    with pytest.raises(IncompleteDownload, match="broke off at byte .* of an unknown total") as failed:
        fetch(f"{server}/{source.name}", tmp_path / source.name, None, progress=False)
    kept = (tmp_path / f"{source.name}.part").read_bytes()  # http.client may drop the last read's bytes
    assert 0 < len(kept) <= half and kept == source.read_bytes()[: len(kept)]
    assert f"byte {len(kept):,} of" in str(failed.value)
    RangeHandler.cut_at = None
    fetch(f"{server}/{source.name}", tmp_path / source.name, md5(source), progress=False)
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()


def test_whole_part_left_by_an_interrupted_check_is_not_downloaded_again(server, tiny_data, tmp_path):
    """A run stopped during the md5 of a complete part: the server answers the resume with 416."""
    source = tiny_data["archives"]["val"]
    (tmp_path / f"{source.name}.part").write_bytes(source.read_bytes())
    fetch(f"{server}/{source.name}", tmp_path / source.name, md5(source), progress=False)
    assert RangeHandler.requests == [(f"/{source.name}", f"bytes={source.stat().st_size}-")]
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()


def test_part_longer_than_the_remote_file_is_an_error_naming_it(server, tiny_data, tmp_path):
    source = tiny_data["archives"]["val"]
    part = tmp_path / f"{source.name}.part"
    part.write_bytes(source.read_bytes() + b"extra")
    with pytest.raises(IncompleteDownload, match=f"delete {part}"):
        fetch(f"{server}/{source.name}", tmp_path / source.name, md5(source), progress=False)
    assert part.stat().st_size == source.stat().st_size + 5  # the user's to judge, not ours to delete


def test_missing_remote_file_is_an_error(server, tmp_path):
    with pytest.raises(Exception, match="404"):
        fetch(f"{server}/nope.tar", tmp_path / "nope.tar", None, progress=False)
    assert not (tmp_path / "nope.tar").exists()


def test_ilsvrc_source_over_http(server, tiny_data, tmp_path, monkeypatch):
    """The real ILSVRC path: three archives by URL, md5-checked, ingested. The published md5s are swapped for
    the generated archives' own."""
    meta = {k: (p.name, md5(p)) for k, p in tiny_data["archives"].items()}
    monkeypatch.setattr(acquire_mod, "ARCHIVE_META", meta)
    from alexnet_repro.data.config import SourceConfig

    source = SourceConfig(kind="ilsvrc", location=server, verify_md5=True, download_dir=str(tmp_path / "archives"))
    raw = acquire_mod.acquire(source, tmp_path / "raw", progress=False)
    names = sorted(n for n, _ in meta.values())
    # the archives, each with the stamp of the md5 check made while fetching it (not repeated at the next run)
    assert sorted(p.name for p in (tmp_path / "archives").iterdir()) == sorted([*names, *(n + ".verified" for n in names)])
    index, expected = (json.loads((r / "archives.json").read_text()) for r in (raw, tiny_data["raw"]))
    assert [c["wnid"] for c in index["train"]["classes"]] == [c["wnid"] for c in expected["train"]["classes"]]
    assert len(index["val"]["images"]) == len(expected["val"]["images"])
    assert not (raw / "train").exists()  # indexed in place, never unpacked


def test_published_checksums_are_the_official_ones():
    assert {k: v[1] for k, v in acquire_mod.ARCHIVE_META.items()} == {
        "train": "1d675b47d978889d74fa0da5fadfb00e", "val": "29b22e2961454d5413ddabcf34fc5622",
        "devkit": "fa75699e90414af021442c21a62c3abf"}


def test_imagenette_source_over_http(tiny_data, tmp_path, monkeypatch):
    """Imagenette's layout (imagenette2-320/{train,val}/<wnid>/*.JPEG in a .tgz), served on loopback."""
    import tarfile

    from alexnet_repro.data.config import SourceConfig

    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "imagenette2-320.tgz", "w:gz") as tgz:
        for split in ("train", "val"):
            tgz.add(tiny_data["tree"] / split, arcname=f"imagenette2-320/{split}")
    handler = functools.partial(RangeHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_port}/imagenette2-320.tgz"
        mirror = {"imagenette2-320.tgz": hashlib.md5((served / "imagenette2-320.tgz").read_bytes()).hexdigest()}
        source = SourceConfig(kind="imagenette", location=url, verify_md5=True, download_dir=str(tmp_path / "dl"),
                              md5=mirror)  # a mirror's own checksum, over the published one
        raw = acquire_mod.acquire(source, tmp_path / "raw", progress=False)
    finally:
        httpd.shutdown()
    classes = json.loads((raw / "classes.json").read_text())
    assert [c["wnid"] for c in classes] == sorted(p.name for p in (tiny_data["tree"] / "train").iterdir())
    for split in ("train", "val"):
        assert len(list((raw / split).rglob("*.JPEG"))) == len(list((tiny_data["tree"] / split).rglob("*.JPEG")))
    assert (tmp_path / "dl" / "imagenette2-320.tgz").exists()  # kept where data.source.download_dir says


def test_imagenette_published_checksum_is_used(tiny_data, tmp_path, monkeypatch):
    import yaml

    from alexnet_repro.data.config import SourceConfig
    from conftest import CONF

    configured = yaml.safe_load((CONF / "data" / "imagenette.yaml").read_text())["source"]["location"]
    assert len(acquire_mod.IMAGENETTE_MD5[configured.rsplit("/", 1)[1]]) == 32  # it has a published md5
    served = tmp_path / "served"
    served.mkdir()
    (served / "imagenette2-320.tgz").write_bytes(b"not the published archive")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_port}/imagenette2-320.tgz"  # a mirror: checked by the archive's name
    try:
        source = SourceConfig(kind="imagenette", location=url, verify_md5=True, download_dir=str(tmp_path / "dl"))
        with pytest.raises(ChecksumError, match=r"imagenette2-320.tgz.*data\.source\.md5.*verify_md5=false"):
            acquire_mod.acquire(source, tmp_path / "raw", progress=False)
        unknown = SourceConfig(kind="imagenette", location=url.replace("-320", "-999"), verify_md5=True,
                               download_dir=str(tmp_path / "dl"))
        with pytest.raises(ConfigError, match=r"no md5 is known for imagenette2-999.tgz.*data\.source\.md5"):
            acquire_mod.acquire(unknown, tmp_path / "raw", progress=False)  # never a silently skipped check
    finally:
        httpd.shutdown()
    assert not (tmp_path / "raw").exists()


def test_a_passed_md5_check_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    import alexnet_repro.data.fetch as fetch_module

    archive = tmp_path / "a.tar"
    archive.write_bytes(b"x" * 1000)
    good = hashlib.md5(archive.read_bytes()).hexdigest()
    fetch_module.verify(archive, good)
    calls = []
    real = fetch_module.md5sum
    monkeypatch.setattr(fetch_module, "md5sum", lambda path, progress=False: calls.append(path) or real(path))
    fetch_module.verify(archive, good)
    assert calls == []  # remembered: 138 GB are hashed once
    archive.write_bytes(b"y" * 1000)  # same size, new mtime and content
    with pytest.raises(fetch_module.ChecksumError, match="a.tar"):
        fetch_module.verify(archive, good)
    assert calls == [archive]


def test_a_fetched_file_is_hashed_once_not_again_at_the_next_run(tmp_path, monkeypatch):
    import alexnet_repro.data.fetch as fetch_module

    source = tmp_path / "src.tar"
    source.write_bytes(b"z" * 1000)
    good = hashlib.md5(source.read_bytes()).hexdigest()
    calls = []
    real = fetch_module.md5sum
    monkeypatch.setattr(fetch_module, "md5sum", lambda path, progress=False: calls.append(path) or real(path))
    dest = fetch_module.fetch(str(source), tmp_path / "dl" / "a.tar", good, progress=False)
    fetch_module.fetch(str(source), dest, good, progress=False)  # the next run finds it there
    assert len(calls) == 1  # checked while fetching; the stamp spares the second 138 GB pass


def test_a_server_that_never_answers_is_one_line_naming_the_url_and_the_timeout(tmp_path):
    """A server that accepts the connection and never answers: `error: timed out` after 60 s, naming no URL."""
    import socket

    from alexnet_repro.data.fetch import TIMEOUT_S, DownloadFailed

    assert TIMEOUT_S == 60  # the default the parameter replaced
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel completes the handshake; nothing reads or answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/ILSVRC2012_img_val.tar"
    try:
        with pytest.raises(DownloadFailed) as err:
            fetch(url, tmp_path / "dl" / "ILSVRC2012_img_val.tar", None, progress=False, timeout=0.5)
    finally:
        silent.close()
    assert str(err.value) == f"{url}: no answer within 0.5 s; try again later, or another mirror (data.source.location)"
    refused = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{refused.getsockname()[1]}/ILSVRC2012_img_val.tar"
    refused.close()  # nothing listens on that port now
    with pytest.raises(DownloadFailed, match=rf"^{url}: could not download \(.*refused\)$") as err:
        fetch(url, tmp_path / "dl" / "ILSVRC2012_img_val.tar", None, progress=False, timeout=0.5)
    assert "\n" not in str(err.value) and not list((tmp_path / "dl").glob("*.tar"))
