"""A run folder resumes itself. Folders are deterministic, runs/<dataset>/<profile>/<experiment>/seed<k>, so a
training started again after a kill (or a preempted SLURM job, or `dvc repro` after Ctrl-C) finds its own
last checkpoint and goes on from there, if it was started with the same configuration.

What a start finds in its folder, and what it does:
  nothing                                   train from step 0
  last.ckpt, same config fingerprint, not done   resume from last.ckpt
  a finished run (train_summary.json, written last), or another configuration, or a run killed before its
  first checkpoint                          move it to <experiment>/replaced/<seed folder>-<n> (nothing is
                                            lost; the log says where), then train from step 0
A finished run is trained again rather than skipped: whoever starts it (a user, or DVC because code or data
changed) wants a new result. The fingerprint covers what decides the result: the resolved config without
paths, logging and loader settings, plus the store's content fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from alexnet_repro.results import TRAIN_SUMMARY

log = logging.getLogger(__name__)

FINGERPRINT = "config_fingerprint.txt"
LAST_CKPT = Path("checkpoints") / "last.ckpt"
REPLACED = "replaced"
# Keys that change where files go or what is printed, not what is trained.
VOLATILE = ("paths", "logger", "ckpt_path", "trainer.enable_progress_bar", "trainer.log_every_n_steps",
            "trainer.ckpt_every_n_steps", "data.workers", "data.raw_dir", "data.store_dir", "data.stats_path",
            "data.source")


def config_fingerprint(resolved: dict, store_fingerprint: str) -> str:
    config = json.loads(json.dumps(resolved))  # a deep copy of plain data
    for dotted in VOLATILE:
        *parents, leaf = dotted.split(".")
        node = config
        for key in parents:
            node = node.get(key, {})
        node.pop(leaf, None)
    text = json.dumps({"config": config, "store": store_fingerprint}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _move_aside(run_dir: Path, why: str) -> None:
    replaced = run_dir.parent / REPLACED
    replaced.mkdir(parents=True, exist_ok=True)
    n = 1
    while (target := replaced / f"{run_dir.name}-{n}").exists():
        n += 1
    os.replace(run_dir, target)
    log.warning("%s %s: moved to %s; training starts from step 0", run_dir, why, target)


def _inspect(run_dir: Path, fingerprint: str) -> tuple[str, str]:
    """("fresh" | "resume" | "replace", why) for what run_dir holds; changes nothing."""
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return "fresh", ""
    stored = (run_dir / FINGERPRINT).read_text().strip() if (run_dir / FINGERPRINT).exists() else None
    if (run_dir / TRAIN_SUMMARY).exists():
        return "replace", "holds a finished run"
    if stored != fingerprint:
        return "replace", "holds a run of another configuration" if stored else "holds files of no known run"
    if not (run_dir / LAST_CKPT).exists():
        return "replace", "holds a run killed before its first checkpoint"
    return "resume", ""


def prepare(run_dir: Path, fingerprint: str, rank_zero: bool = True) -> Path | None:
    """Make run_dir ready for this configuration; returns the checkpoint to resume from, or None.

    Only rank zero changes files. Other ranks (DDP's later processes, SLURM's other tasks) reach the same
    answer whether they look before or after rank zero has tidied up: both states read "fresh" or "resume"."""
    action, why = _inspect(run_dir, fingerprint)
    if action == "resume":
        log.info("%s: resuming from %s", run_dir, LAST_CKPT)
        return run_dir / LAST_CKPT
    if rank_zero:
        if action == "replace":
            _move_aside(run_dir, why)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / FINGERPRINT).write_text(fingerprint + "\n")
    return None
