"""Tar extraction that refuses what an archive must not do: absolute paths, `..`, links, devices, FIFOs."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath


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


def iter_files(archive: str | Path, fileobj=None):
    """Stream (safe relative name, file contents in memory) for every regular file of a tar, any compression.
    Each member is read whole before it is yielded, so a truncated archive fails here, naming the archive."""
    try:
        with tarfile.open(archive if fileobj is None else None, mode="r|*", fileobj=fileobj) as tar:
            for member in tar:
                name = check_member(archive, member)
                if member.isdir():
                    continue
                yield name, io.BytesIO(tar.extractfile(member).read())
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
