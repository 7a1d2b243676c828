"""Downloads with no md5 to check (verify_md5=false, a mirror of unknown md5): the bytes get the archive's name
only when they read as a whole archive of its kind (data/fetch.py: archive_problem). Over real HTTP on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import pytest

from alexnet_repro.data.fetch import IncompleteDownload, NotAnArchive, fetch

HTML = b"<!DOCTYPE html><html><body>Please log in to download this file.</body></html>\n"


class NoLengthHandler(http.server.SimpleHTTPRequestHandler):
    """HTTP/1.0 with no Content-Length: the body ends when the connection closes, so a cut is silent.
    `cut_at` ends the body at that byte; a Range request is answered with 206 and the rest."""

    cut_at: int | None = None
    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        NoLengthHandler.requests.append((self.path, self.headers.get("Range")))
        try:
            data = open(self.translate_path(self.path), "rb").read()
        except OSError:
            self.send_error(404)
            return
        start = 0
        if rng := self.headers.get("Range"):
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/*")
        else:
            self.send_response(200)
        self.end_headers()
        self.wfile.write(data[start : NoLengthHandler.cut_at or len(data)])


@pytest.fixture
def served(tiny_data, tmp_path):
    """A folder served over HTTP holding the tiny archives and an HTML page named like an archive."""
    root = tmp_path / "served"
    root.mkdir()
    for archive in tiny_data["archives"].values():
        shutil.copyfile(archive, root / archive.name)
    (root / "imagenette2.tgz").write_bytes(HTML)
    (root / "page.tar").write_bytes(HTML)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(NoLengthHandler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    NoLengthHandler.requests, NoLengthHandler.cut_at = [], None
    yield root, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    NoLengthHandler.cut_at = None


@pytest.mark.parametrize("name", ["imagenette2.tgz", "page.tar"])
def test_an_html_page_served_with_200_is_set_aside_not_named_as_the_archive(served, tmp_path, name):
    """It was renamed to the archive's name: the next run made no request and failed until files were deleted."""
    _, url = served
    dest = tmp_path / "dl" / name
    with pytest.raises(NotAnArchive) as err:
        fetch(f"{url}/{name}", dest, None, progress=False)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{url}/{name}: not ")
    assert "verify_md5" in message and f"moved to {dest}.bad" in message
    assert not dest.exists() and (tmp_path / "dl" / f"{name}.bad").read_bytes() == HTML
    assert not (tmp_path / "dl" / f"{name}.part").exists()


@pytest.mark.parametrize("archive", ["ILSVRC2012_img_val.tar", "ILSVRC2012_devkit_t12.tar.gz"])
def test_a_silent_cut_without_content_length_keeps_the_part_and_the_next_try_resumes(served, tmp_path, archive):
    root, url = served
    size = (root / archive).stat().st_size
    dest = tmp_path / "dl" / archive
    NoLengthHandler.cut_at = size * 2 // 3
    with pytest.raises(IncompleteDownload) as err:
        fetch(f"{url}/{archive}", dest, None, progress=False)
    assert "\n" not in str(err.value) and "the next try resumes" in str(err.value)
    assert not dest.exists() and (tmp_path / "dl" / f"{archive}.part").stat().st_size == size * 2 // 3
    NoLengthHandler.cut_at = None
    fetch(f"{url}/{archive}", dest, None, progress=False)
    assert NoLengthHandler.requests[-1] == (f"/{archive}", f"bytes={size * 2 // 3}-")
    assert dest.read_bytes() == (root / archive).read_bytes()


def test_an_unreadable_archive_left_by_an_older_version_is_set_aside_and_fetched_again(served, tmp_path):
    root, url = served
    dest = tmp_path / "dl" / "ILSVRC2012_img_val.tar"
    dest.parent.mkdir()
    dest.write_bytes(HTML)  # what the old code named as the archive
    fetch(f"{url}/{dest.name}", dest, None, progress=False)
    assert dest.read_bytes() == (root / dest.name).read_bytes()
    assert (tmp_path / "dl" / f"{dest.name}.bad").read_bytes() == HTML
    requests = len(NoLengthHandler.requests)
    fetch(f"{url}/{dest.name}", dest, None, progress=False)  # checked once: remembered, no request
    assert len(NoLengthHandler.requests) == requests


def test_a_local_unreadable_archive_is_named_and_left_alone(tmp_path):
    own = tmp_path / "imagenet" / "ILSVRC2012_img_train.tar"
    own.parent.mkdir()
    own.write_bytes(HTML)
    with pytest.raises(NotAnArchive, match=f"^{own}: not a tar archive .*no md5 to check it against"):
        fetch(str(own), own, None, progress=False)
    assert own.read_bytes() == HTML  # the user's own file is never moved


class GzipEncodedHandler(http.server.SimpleHTTPRequestHandler):
    """Sends each file with `Content-Encoding: <encoding>` and its Content-Length: compressed on the fly (a server
    that gzips what it sends), or with `as_is` the file's own bytes under that label (Apache's AddEncoding x-gzip
    .tgz). Answers a Range request with the whole body, as servers that compress on the fly do."""

    encoding = "gzip"
    as_is = False

    def log_message(self, *args):
        pass

    def do_GET(self):
        import gzip

        data = open(self.translate_path(self.path), "rb").read()
        body = data if GzipEncodedHandler.as_is else gzip.compress(data)
        self.send_response(200)
        self.send_header("Content-Encoding", GzipEncodedHandler.encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def gzip_served(served):
    root, _ = served
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(GzipEncodedHandler,
                                                                                directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    GzipEncodedHandler.encoding, GzipEncodedHandler.as_is = "gzip", False


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip"])
@pytest.mark.parametrize("checked", [False, True], ids=["no-md5", "md5"])
@pytest.mark.parametrize("archive", ["ILSVRC2012_devkit_t12.tar.gz", "ILSVRC2012_img_val.tar"])
def test_a_body_sent_with_content_encoding_gzip_is_decoded(gzip_served, tmp_path, archive, checked, encoding):
    """Without an md5 the gzip-encoded .tar.gz was `the download is the archive ends early or is damaged`, kept
    to be resumed, and every next try ended the same way; with an md5, a checksum error."""
    import hashlib

    root, url = gzip_served
    GzipEncodedHandler.encoding = encoding
    md5 = hashlib.md5((root / archive).read_bytes()).hexdigest() if checked else None
    dest = fetch(f"{url}/{archive}", tmp_path / "dl" / archive, md5, progress=False)
    assert dest.read_bytes() == (root / archive).read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == [archive, f"{archive}.verified"]


def test_a_gzip_archive_labelled_content_encoding_gzip_is_kept_as_sent(gzip_served, tmp_path):
    root, url = gzip_served
    GzipEncodedHandler.as_is, archive = True, "ILSVRC2012_devkit_t12.tar.gz"
    dest = fetch(f"{url}/{archive}", tmp_path / "dl" / archive, None, progress=False)
    assert dest.read_bytes() == (root / archive).read_bytes()  # not decoded into the .tar inside


def test_a_damaged_archive_the_server_says_is_whole_is_set_aside_not_resumed_forever(gzip_served, tmp_path):
    """A gzip archive that ends early although the server sent the whole Content-Length: kept to be resumed, and
    each next try (a request for bytes past the end) failed the same way."""
    root, url = gzip_served
    GzipEncodedHandler.as_is, archive = True, "broken.tar.gz"
    data = (root / "ILSVRC2012_devkit_t12.tar.gz").read_bytes()
    (root / archive).write_bytes(data[: len(data) * 2 // 3])
    dest = tmp_path / "dl" / archive
    with pytest.raises(NotAnArchive) as err:
        fetch(f"{url}/{archive}", dest, None, progress=False)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{url}/{archive}: the archive ends early or is damaged")
    assert f"moved to {dest}.bad" in message and not (tmp_path / "dl" / f"{archive}.part").exists()
