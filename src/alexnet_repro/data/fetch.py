"""Acquire archives: local files, file:// or http(s):// URLs. Streams with a progress bar, resumes a partial
download (`<name>.part`), checks the length the server announced and then the md5, and only then gives the file
its name. A download cut short stays in `<name>.part` for the next try to resume; a whole download with the
wrong md5 is moved to `<name>.bad`, never resumed into. Without an md5 (verify_md5=false, a location of unknown
md5) a tar or tar.gz gets its name only once it reads as a whole archive of that kind (archive_problem): an HTML
page goes to `<name>.bad`, a body cut short stays in `<name>.part` for the next try. A body the server sent
with `Content-Encoding: gzip` is kept as it came (a Range request counts the encoded bytes) and decoded only
where the bytes as sent fail the check (Apache's `AddEncoding x-gzip .tgz` labels the .tgz itself that way)."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from urllib.parse import urlparse

from tqdm import tqdm

from alexnet_repro.data.safe_tar import GZIP_MAGIC

CHUNK = 1 << 20
TIMEOUT_S = 60  # seconds a server may stay silent (connecting, answering, between blocks) before fetch gives up
GZIP_ENCODINGS = ("gzip", "x-gzip")
log = logging.getLogger(__name__)


class ChecksumError(ValueError):
    pass


class NotAnArchive(ValueError):
    """A file with no md5 to check that does not read as the archive its name says."""


class DownloadFailed(OSError):
    """The server could not be reached, did not answer, or answered with an HTTP error: one line naming the URL
    (urllib's own messages, `timed out` or `<urlopen error ...>`, name none)."""


def md5sum(path: Path, progress: bool = False) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                     desc=f"md5 {path.name}", disable=not progress) as bar:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


VERIFIED = ".verified"  # <archive>.verified: "size mtime_ns md5" of the last successful check
# What a user can do about a wrong md5, in every message that reports one.
MD5_WAYS_OUT = "data.source.md5 gives a mirror's own checksums; data.source.verify_md5=false skips the check"


def verify(path: Path, md5: str | None) -> None:
    """The md5 check, done once per file: hashing ImageNet's 138 GB train tar takes minutes to hours, and the
    download stage runs again whenever its code changes. A stamp beside the file remembers a passed check
    for exactly this size and mtime; where the folder is read-only the check simply runs every time."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if md5 is None:
        return
    if _remembered(path, md5):
        return
    if (actual := md5sum(path, progress=path.stat().st_size > 1 << 30)) != md5:
        raise ChecksumError(f"{path}: md5 {actual} does not match the expected {md5} ({MD5_WAYS_OUT})")
    _stamp(path, md5)


def _remembered(path: Path, token: str) -> bool:
    stamp = path.with_name(path.name + VERIFIED)
    return stamp.exists() and stamp.read_text().strip() == _stamp_text(path, token)


def _unchecked_token(kind: str) -> str:
    return f"readable-{kind}"  # in the stamp where an md5 would be: this file was read whole as a `kind` archive


def _check_unchecked(source: str, path: Path, kind: str, downloaded: bool, whole: bool = False) -> None:
    """Raise unless path reads as a whole `kind` archive; remembered like an md5 check. whole: the server
    said how long the file is and all of it is here, so an archive that reads as cut short is damaged: set
    aside (a resume would ask for bytes past the end, and the same check would fail on every try)."""
    if _remembered(path, _unchecked_token(kind)):
        return
    if (found := archive_problem(path, kind)) is not None:
        reason, cut_short = found
        if cut_short and downloaded and not whole and path.name.endswith(".part"):
            raise IncompleteDownload(f"{source}: {reason}; neither an md5 nor the server says how long it should "
                                     f"be, so the bytes are kept in {path} and the next try resumes from there")
        if path.name.endswith(".part"):
            where = _set_aside(path, path.with_name(path.name[: -len(".part")] + ".bad"), downloaded)
        else:
            where = "delete or replace it"
        raise NotAnArchive(f"{path if not path.name.endswith('.part') else source}: {reason}, not a readable "
                           f"{kind} archive, and there is no md5 to check it against (data.source.verify_md5); "
                           f"{where}")
    if not path.name.endswith(".part"):  # fetch stamps the finished file once it has its name
        _stamp(path, _unchecked_token(kind))


def _stamp_text(path: Path, md5: str) -> str:
    stat = path.stat()
    return f"{stat.st_size} {stat.st_mtime_ns} {md5}"


def _stamp(path: Path, md5: str) -> None:
    """Remember a passed check (best effort: a read-only folder only means checking again next time)."""
    try:
        path.with_name(path.name + VERIFIED).write_text(_stamp_text(path, md5) + "\n")
    except OSError:
        pass


class IncompleteDownload(OSError):
    """The server sent fewer bytes than it said it would. An OSError (the stages print those as one line):
    the bytes that did arrive are kept in `<name>.part`, and the next try asks only for the rest."""


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """'bytes 100-199/1000' -> (100, 1000); 'bytes */1000' -> (None, 1000); a total of '*' -> None."""
    match = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", (value or "").strip())
    if match is None:
        return None, None
    first, total = match.groups()
    return (int(first) if first else None), (int(total) if total and total != "*" else None)


def _extent(url: str, response: http.client.HTTPResponse, have: int, part: Path) -> tuple[int, int | None]:
    """Where the body starts in the file and how long the whole file is (None: the server did not say)."""
    length = response.headers.get("Content-Length")
    if response.status == 206:
        first, total = _content_range(response.headers.get("Content-Range"))
        if first != have:  # appending bytes from anywhere else would silently corrupt the file
            raise IncompleteDownload(f"{url}: asked for bytes {have}- but the server sent Content-Range "
                                     f"{response.headers.get('Content-Range')!r}; delete {part} to start again")
        return have, total if total is not None else (have + int(length) if length else None)
    if have:  # 200 to a ranged request: the server ignores Range and sends the whole file
        log.warning("%s ignored the request to resume at byte %d: downloading from the start", url, have)
    return 0, int(length) if length else None


def _stream(url: str, part: Path, progress: bool, timeout: float = TIMEOUT_S) -> tuple[bool, str]:
    """Complete `part` from `url`, resuming after the bytes it already has; raises IncompleteDownload (and
    keeps what arrived) when the body ends before the length the server announced. Returns whether the server
    said how long the file is (then `part` has exactly that many bytes) and the body's Content-Encoding."""
    have = part.stat().st_size if part.exists() else 0
    response = _open(url, part, have, timeout)
    if response is None:
        return True, "identity"  # the encoding is not known here: the bytes as sent are checked as they are
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    with response:
        start, total = _extent(url, response, have, part)
        got = _append_body(url, response, part, start, total, progress)
    # http.client's read(n) returns b"" when the connection closes early, even before the announced length:
    # without this check a cut-off download would be taken for the whole file.
    if total is not None and got != total:
        raise IncompleteDownload(f"{url}: the connection closed after byte {got:,} of {total:,}; the bytes so "
                                 f"far are kept in {part} and the next try resumes from there")
    return total is not None, encoding


def _open(url: str, part: Path, have: int, timeout: float):
    """The response for the bytes after `have`; None when `part` already holds the whole file."""
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not have:
            raise DownloadFailed(f"{url}: the server answered HTTP {err.code} {err.reason}") from None
        # 416: nothing is left after byte `have`. A part that is already the whole file (a run was stopped
        # while checking it) is finished; a longer one cannot be a start of this file: the user decides.
        err.close()
        total = _content_range(err.headers.get("Content-Range"))[1]
        if total != have:
            raise IncompleteDownload(f"{url}: the server has no bytes after byte {have:,}, the size of {part}, "
                                     f"but the file has {_of(total)} bytes; delete {part} to start again") from None
        return None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        # urllib names no URL: a server that accepts and never answers is a bare `timed out` from getresponse,
        # one that cannot be reached a `<urlopen error [Errno 111] Connection refused>`
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        if isinstance(reason, TimeoutError):
            raise DownloadFailed(f"{url}: no answer within {timeout:g} s; try again later, or another mirror "
                                 "(data.source.location)") from None
        said = " ".join(str(reason).split()) or type(reason).__name__
        raise DownloadFailed(f"{url}: could not download ({said})") from None


def _append_body(url: str, response, part: Path, start: int, total: int | None, progress: bool) -> int:
    """Write the response's body to `part` from byte `start`; returns the size `part` ends at."""
    with open(part, "ab" if start else "wb") as f, tqdm(total=total, initial=start, unit="B", unit_scale=True,
                                                        desc=f"download {part.name[:-5]}",
                                                        disable=not progress) as bar:
        try:
            for block in iter(lambda: response.read(CHUNK), b""):
                f.write(block)
                bar.update(len(block))
        except (OSError, http.client.HTTPException) as err:  # reset, timeout, a broken chunked body
            if isinstance(err, http.client.IncompleteRead):
                # what this read had before the cut; http.client loses some cuts' bytes, which only
                # means that the resume asks for them again
                f.write(err.partial)
            raise IncompleteDownload(f"{url}: the download broke off at byte {f.tell():,} of "
                                     f"{_of(total)} ({err!r}); the bytes so far are kept in {part} "
                                     f"and the next try resumes from there") from err
        return f.tell()


def _of(total: int | None) -> str:
    return f"{total:,}" if total is not None else "an unknown total"


def fetch(source: str, dest: Path, md5: str | None, progress: bool = True, timeout: float = TIMEOUT_S) -> Path:
    """Put `source` (path or URL) at `dest`, verified. An existing, verified `dest` is kept as it is.
    timeout: seconds a server may stay silent before the download stops with one line naming it."""
    dest = Path(dest)
    scheme = urlparse(source).scheme
    downloaded = scheme in ("http", "https")
    kind = expected_kind(dest.name) if md5 is None else None
    if dest.exists():
        if kind is None:
            verify(dest, md5)
            return dest
        try:
            _check_unchecked(source, dest, kind, downloaded=False)
            return dest
        except NotAnArchive:
            if not downloaded:
                raise  # the user's own file: never moved
            bad = dest.with_name(dest.name + ".bad")
            os.replace(dest, bad)  # named by an earlier version of this code: set aside, then downloaded again
            log.warning("%s is not a readable %s archive (moved to %s): downloading it again", dest, kind, bad)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    whole, encoding = False, "identity"
    if downloaded:
        whole, encoding = _stream(source, part, progress, timeout)
    else:
        local = Path(urlparse(source).path if scheme == "file" else source)
        if not local.exists():
            raise FileNotFoundError(f"{local} does not exist")
        shutil.copyfile(local, part)
    if md5 is not None and (actual := md5sum(part, progress)) != md5:
        if encoding in GZIP_ENCODINGS and _decoded_instead(part, lambda decoded: md5sum(decoded) == md5):
            actual = md5
    if md5 is not None and actual != md5:
        where = _set_aside(part, dest.with_name(dest.name + ".bad"), downloaded=downloaded)
        sent = f" (sent with Content-Encoding: {encoding})" if encoding != "identity" else ""
        raise ChecksumError(f"{source}: md5 {actual}{sent} does not match the expected {md5} ({MD5_WAYS_OUT}); "
                            f"{where}")
    if kind is not None:
        if encoding in GZIP_ENCODINGS and archive_problem(part, kind) is not None:
            _decoded_instead(part, lambda decoded: archive_problem(decoded, kind) is None)
        _check_unchecked(source, part, kind, downloaded, whole)
    os.replace(part, dest)
    if md5 is not None or kind is not None:
        # checked just now: the next run need not check it again (os.replace keeps the mtime)
        _stamp(dest, md5 if md5 is not None else _unchecked_token(kind))
    return dest


def _decoded_instead(part: Path, passes) -> bool:
    """Replace `part` by its gzip-decoded bytes if those pass the check (`passes`) its bytes as sent failed.
    Only then: a server may label an archive that is gzip already (.tgz) with Content-Encoding: gzip, and
    decoding that one would turn the archive into another file."""
    decoded = part.with_name(part.name + ".decoded")
    try:
        with gzip.open(part, "rb") as src, open(decoded, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        if passes(decoded):
            os.replace(decoded, part)
            log.info("%s: the server's Content-Encoding: gzip decoded", part)
            return True
    except (OSError, EOFError, zlib.error):  # not gzip after all, or cut short: the bytes as sent are judged
        pass
    decoded.unlink(missing_ok=True)
    return False


def _set_aside(part: Path, bad: Path, downloaded: bool) -> str:
    """A finished but wrong file must not be resumed into: the next try would only append to it. A download
    is moved to `bad` rather than deleted: it may have taken hours (138 GB for ILSVRC's train set), and the
    user may want to look at it, or keep it if it is the published md5 that is wrong. Only the latest bad
    copy is kept, so that retries cannot fill the disk. A local copy is deleted: its source is still there.
    Returns what happened, for the error message."""
    if not downloaded:
        part.unlink()
        return f"the copy {part} was deleted"
    os.replace(part, bad)
    return f"the downloaded bytes were moved to {bad} (delete it to free the space) and the next try starts from zero"


# --- Is this file a whole tar archive? -------------------------------------------------------------------------
# The check for downloads with no checksum to go by (verify_md5=false, a mirror of unknown md5, a server that
# sends no Content-Length): an HTML error page served with status 200, or a body cut short without a word, must
# not be given the archive's name (the next run would take it as is). Cheap at ImageNet's size: a plain tar's
# member headers are read by seeking past their data (the 138 GB train tar holds 1000 members); a gzipped one
# (the devkit, Imagenette) is decompressed once, as extracting it would.

BLOCK = tarfile.BLOCKSIZE  # 512


def expected_kind(name: str) -> str | None:
    """'tar' or 'tar.gz' from the archive's file name; None for names of no known kind (not checked)."""
    if name.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if name.endswith(".tar"):
        return "tar"
    return None


def archive_problem(path: Path, kind: str) -> tuple[str, bool] | None:
    """None if path is a readable archive of `kind`; else (what is wrong, whether it looks cut short: the right
    kind of file that ends early, which a resumed download may complete)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(BLOCK)
    if kind == "tar.gz" and not head.startswith(GZIP_MAGIC):
        return f"not gzip data (it starts with {head[:16]!r})", False
    if kind == "tar" and (len(head) < BLOCK or not _is_tar_header(head)):
        if len(head) < BLOCK and head and not head.lstrip().startswith(b"<"):
            return f"only {size} bytes, less than one tar header", True
        return f"not a tar archive (it starts with {head[:16]!r})", False
    try:
        with tarfile.open(path, "r:gz" if kind == "tar.gz" else "r:") as archive:
            end = 0
            for member in archive:
                end = member.offset_data + ((member.size + BLOCK - 1) // BLOCK) * BLOCK
    except (tarfile.TarError, EOFError, OSError) as err:  # gzip's "ended before the end-of-stream marker"
        return f"the archive ends early or is damaged ({err})", True
    if end == 0:
        return "an archive with no members", False
    if kind == "tar":
        # tarfile stops quietly at a missing header: a plain tar cut short inside a member's data or before
        # its end-of-archive marker reads as a shorter archive. Check both against the size. POSIX asks for two
        # zero blocks; one is required here, for writers that stop after the first.
        with open(path, "rb") as f:
            f.seek(end)
            marker = f.read(BLOCK)
        if end > size or marker != bytes(BLOCK):
            return f"cut short: {size:,} bytes, without the end-of-archive marker after byte {end:,}", True
    return None


def _is_tar_header(block: bytes) -> bool:
    if block[257:262] == b"ustar":
        return True
    try:  # a pre-POSIX (v7) header: only its checksum says it is one
        return int(block[148:156].split(b"\0")[0].strip() or b"-1", 8) == tarfile.calc_chksums(block)[0]
    except ValueError:
        return False
