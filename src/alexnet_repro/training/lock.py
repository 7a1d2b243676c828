"""One training per run folder at a time (and one alexnet-matrix per repository: matrix/cli.py holds logs/matrix).
Two starts of the same run (a user's and DVC's, or two sweeps) would
both write its checkpoints and history, and the second would set the live first one aside as a killed run.

The lock is an advisory flock on `<run folder>/.lock`, taken before anything in the folder is looked at and held
for the training's life. The kernel releases it when its process ends in any way (SIGKILL included), so a killed
run never leaves a stale lock; the file itself stays (deleting a lock file races with a starter that has it
open), holding the PID of its last holder for the message. flock works across NFS clients on Linux (emulated
with byte-range locks).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK = ".lock"
RUN_IN_USE = ("{folder} is in use by PID {pid}: wait for that training to end, or stop it (it resumes from its last "
              "checkpoint when started again)")


class RunInUse(OSError):
    """Another process trains this run now (an OSError: the entry points print it as one line, exit 2)."""


@contextmanager
def hold(run_dir: str | os.PathLike, rank_zero: bool = True, in_use: str = RUN_IN_USE) -> Iterator[None]:
    """Hold run_dir's lock around a training; other ranks of the same training (DDP, SLURM tasks) take none.
    in_use: the message when another process holds it, with {folder} and {pid}."""
    if not rank_zero:
        yield
        return
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown (starting)"
            raise RunInUse(in_use.format(folder=run_dir, pid=holder)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
