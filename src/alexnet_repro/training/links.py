"""A run folder holds no links out of itself. W&B links `wandb/offline-run-*/logs/debug-core.log` to
`~/.cache/wandb/logs/core-debug-<second>.log`, a file that every W&B process started in that second appends
to; DVC follows links when it hashes the train stage's outputs, so another job's log lines made a finished run
look changed, and `dvc repro` trained it again. When training ends, each such link is replaced by a copy of
what it points to (a dangling one is removed): the folder's content is then the run's alone. Imports no
Lightning: an adoption check (resume.py) runs before the training's heavy imports; the callback that calls
this when fitting ends is callbacks.LocalLinks."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def outside_links(folder: str | os.PathLike) -> list[Path]:
    """Every symbolic link under folder whose target (followed to the end) is not inside folder."""
    folder = Path(folder).resolve()
    found = []
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            if path.is_symlink() and not _inside(path.resolve(), folder):
                found.append(path)
    return found


def localize_links(folder: str | os.PathLike) -> None:
    """Replace the links out of folder by copies of their targets (a folder is copied whole)."""
    for link in outside_links(folder):
        target = link.resolve()
        link.unlink()
        if target.is_dir():
            shutil.copytree(target, link, symlinks=False)
        elif target.exists():
            shutil.copyfile(target, link)
        else:
            log.info("removed %s: it pointed to %s, which does not exist", link, target)

