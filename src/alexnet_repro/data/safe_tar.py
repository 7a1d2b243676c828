"""Tar extraction that refuses what an archive must not do: absolute paths, `..`, links, devices, FIFOs."""

from __future__ import annotations

import gzip
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

GZIP_MAGIC = b"\x1f\x8b"  # the first bytes of gzip data (RFC 1952): a .tgz archive's, or a gzipped JPEG's


class UnsafeArchiveError(ValueError):
    pass


def check_member(archive: str | Path, member: tarfile.TarInfo) -> PurePosixPath:
    name = PurePosixPath(member.name)
    where = f"{archive}: entry {member.name!r}"
    if name.is_absolute() or member.name.startswith(("/", "\\")):
        raise UnsafeArchiveError(f"{where} has an absolute path; refusing to extract")
    if ".." in name.parts:
        raise UnsafeArchiveError(f"{where} climbs out of the target folder with '..'; refusing to extract")
    if member.issym() or member.islnk():
        raise UnsafeArchiveError(f"{where} is a link (to {member.linkname!r}); refusing to extract")
    if member.isdev() or member.isfifo():
        raise UnsafeArchiveError(f"{where} is a device or FIFO; refusing to extract")
    return name


SPOOL_BYTES = 64 << 20  # a member up to this size is held in memory; a larger one spills to a temporary file


def iter_files(archive: str | Path, fileobj=None):
    """Stream (safe relative name, a file object holding the member) for every regular file of a tar, any
    compression. Each member is read to its end before it is yielded, so a truncated archive fails here, naming
    the archive; memory stays bounded whatever the member's size (a 9 MB .tgz of a 2 GiB member of zeros took the
    download stage to 4.9 GB when members were read into memory): beyond SPOOL_BYTES it goes to a temporary file."""
    try:
        with tarfile.open(archive if fileobj is None else None, mode="r|*", fileobj=fileobj) as tar:
            for member in tar:
                name = check_member(archive, member)
                if member.isdir():
                    continue
                with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
                    shutil.copyfileobj(tar.extractfile(member), spool, 1 << 20)
                    spool.seek(0)
                    yield name, spool
    except (tarfile.ReadError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise tarfile.ReadError(f"{archive} is truncated or not a tar archive ({err})") from None


def extract_to(archive: str | Path, dest: Path) -> list[Path]:
    out = []
    for name, fh in iter_files(archive):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as f:
            shutil.copyfileobj(fh, f)
        out.append(target)
    return out
