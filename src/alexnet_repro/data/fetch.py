"""Acquire archives: local files, file:// or http(s):// URLs. Streams with a progress bar, resumes a partial
download (`<name>.part`), checks the md5, and only then gives the file its name."""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from tqdm import tqdm

CHUNK = 1 << 20


class ChecksumError(ValueError):
    pass


def md5sum(path: Path, progress: bool = False) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                     desc=f"md5 {path.name}", disable=not progress) as bar:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def verify(path: Path, md5: str | None) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if md5 is not None and (actual := md5sum(path)) != md5:
        raise ChecksumError(f"{path}: md5 {actual} does not match the published {md5}")


def _stream(url: str, part: Path, progress: bool) -> None:
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        if have and response.status != 206:  # the server ignored the range: start again
            have = 0
        total = response.length + have if response.length is not None else None
        with open(part, "ab" if have else "wb") as f, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                                           desc=f"download {part.name[:-5]}",
                                                           disable=not progress) as bar:
            for block in iter(lambda: response.read(CHUNK), b""):
                f.write(block)
                bar.update(len(block))


def fetch(source: str, dest: Path, md5: str | None, progress: bool = True) -> Path:
    """Put `source` (path or URL) at `dest`, verified. An existing, verified `dest` is kept as it is."""
    dest = Path(dest)
    if dest.exists():
        verify(dest, md5)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    scheme = urlparse(source).scheme
    if scheme in ("http", "https"):
        _stream(source, part, progress)
    else:
        local = Path(urlparse(source).path if scheme == "file" else source)
        if not local.exists():
            raise FileNotFoundError(f"{local} does not exist")
        shutil.copyfile(local, part)
    try:
        verify(part, md5)
    except ChecksumError as err:
        part.unlink()  # a finished but wrong file must not be resumed into
        raise ChecksumError(str(err).replace(str(part), f"{source} (downloaded to {part})")) from None
    os.replace(part, dest)
    return dest
