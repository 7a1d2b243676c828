"""Is this file a whole tar archive? The check for downloads that have no checksum to go by (verify_md5=false,
a mirror of unknown md5, a server that sends no Content-Length): an HTML error page served with status 200, or
a body cut short without a word, must not be given the archive's name (the next run would take it as is).

Cheap at ImageNet's size: a plain tar's member headers are read by seeking past their data (the 138 GB train
tar holds 1000 members); a gzipped one (the devkit, Imagenette) is decompressed once, as extracting it would.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
BLOCK = tarfile.BLOCKSIZE  # 512


def expected_kind(name: str) -> str | None:
    """'tar' or 'tar.gz' from the archive's file name; None for names of no known kind (not checked)."""
    if name.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if name.endswith(".tar"):
        return "tar"
    return None


def problem(path: Path, kind: str) -> tuple[str, bool] | None:
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
