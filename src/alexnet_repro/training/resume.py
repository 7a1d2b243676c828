"""A run folder resumes itself. Folders are deterministic, runs/<dataset>/<profile>/<experiment>/seed<k>, so a
training started again after a kill (or a preempted SLURM job, or `dvc repro` after Ctrl-C) finds its own
last checkpoint and goes on from there, if it was started with the same configuration.

What a start finds in its folder, and what it does:
  nothing                                      train from step 0
  an unfinished run of the same configuration  resume from its checkpoints/last.ckpt
  an unfinished run of another configuration   stop with one line naming the keys that differ, unless
                                               fresh_start=true
  a finished run (train_summary.json, the done marker, written last) of the same configuration and the same
  training code                                adopt it: "up to date", nothing is trained (a run trained by hand,
                                               by a launcher or on another node counts for `dvc repro`)
  a finished run of another configuration or code, a run killed before its first checkpoint, or files of no
  run                                          move it to <experiment>/replaced/<seed folder>-<n> (nothing is
                                               lost; the log says where), then train from step 0
The fingerprint covers what decides the result: the resolved config without paths, logging and loader settings,
plus the store's content fingerprint; adoption also needs the hash of the code training runs (code_hash.py),
which a resume does not (an unfinished run goes on after a fix elsewhere in the training code).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from alexnet_repro.atomic import write_json
from alexnet_repro.results import TRAIN_SUMMARY, recorded_config
from alexnet_repro.training.links import localize_links
from alexnet_repro.training.lock import LOCK

log = logging.getLogger(__name__)

FINGERPRINT = "run_config.json"  # {"fingerprint": ..., "config": the fingerprinted config}
CHECKPOINTS = "checkpoints"  # the run folder's checkpoint folder
LAST_CKPT = Path(CHECKPOINTS) / "last.ckpt"  # what a killed run resumes from (callbacks.LastCheckpoint)
BEST = "best"  # the checkpoint chosen on minival: ModelCheckpoint's filename, to which it adds ".ckpt"
BEST_CKPT = Path(CHECKPOINTS) / f"{BEST}.ckpt"
REPLACED = "replaced"


class ConfigChanged(ValueError):
    pass


class CheckpointUnreadable(ValueError):
    pass


def run_config(resolved: dict, store_fingerprint: str) -> dict:
    """What decides a run's result: the config it records (results.recorded_config) and the data it trains on."""
    return {**recorded_config(resolved), "store_fingerprint": store_fingerprint}


def fingerprint_of(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differing_keys(old: dict, new: dict) -> str:
    a, b = _flat(old), _flat(new)
    return ", ".join(f"{k}: {a.get(k, '(none)')} -> {b.get(k, '(none)')}" for k in sorted(a.keys() | b.keys())
                     if a.get(k) != b.get(k))


def _entries(run_dir: Path) -> list[Path]:
    """What the folder holds besides its lock (lock.py), which belongs to the folder, not to a run."""
    return [p for p in run_dir.iterdir() if p.name != LOCK]


def _move_aside(run_dir: Path, why: str) -> None:
    replaced = run_dir.parent / REPLACED
    replaced.mkdir(parents=True, exist_ok=True)
    n = 1
    while (target := replaced / f"{run_dir.name}-{n}").exists():
        n += 1
    # Entry by entry, leaving the lock file in place: moving the folder would move the held lock with it, and
    # a second start would find the new folder unlocked. A kill in between leaves the rest in run_dir, which
    # the next start moves aside in its turn: nothing is lost.
    target.mkdir()
    for entry in _entries(run_dir):
        os.replace(entry, target / entry.name)
    localize_links(target)  # a killed run never reached its own clean-up; evaluate's deps include replaced/
    log.warning("%s %s: moved to %s; training starts from step 0", run_dir, why, target)


def _stored(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / FINGERPRINT).read_text())
    except (OSError, ValueError):
        return None


def _inspect(run_dir: Path, fingerprint: str, code: str) -> tuple[str, str]:
    """("fresh" | "adopt" | "resume" | "replace" | "changed", why) for what run_dir holds; changes nothing."""
    if not run_dir.exists() or not _entries(run_dir):
        return "fresh", ""
    stored = _stored(run_dir)
    if (run_dir / TRAIN_SUMMARY).exists():
        if stored is not None and stored.get("fingerprint") == fingerprint and stored.get("code") == code:
            return "adopt", ""
        return "replace", "holds a finished run of another configuration or training code"
    if stored is None:
        return "replace", "holds files of no known run"
    if not (run_dir / LAST_CKPT).exists():
        return "replace", "holds a run killed before its first checkpoint"
    if stored.get("fingerprint") != fingerprint:
        return "changed", "holds an unfinished run of another configuration"
    return "resume", ""


def _adopt(run_dir: Path) -> dict:
    log.info("%s: up to date (a finished run of this configuration, data and code): nothing to train", run_dir)
    return json.loads((run_dir / TRAIN_SUMMARY).read_text())


def adoptable(run_dir: Path, config: dict, code: str) -> dict | None:
    """The finished run's summary when run_dir holds `config` trained by `code` to the end; else None. Reads
    only: whatever else the folder holds is prepare()'s to handle."""
    return _adopt(run_dir) if _inspect(run_dir, fingerprint_of(config), code)[0] == "adopt" else None


@dataclass
class Start:
    """How a training starts: from `checkpoint` (None: step 0), or not at all (`adopted`: the finished run's
    summary, which is this run's result)."""

    checkpoint: Path | None = None
    adopted: dict | None = None


def prepare(run_dir: Path, config: dict, rank_zero: bool = True, fresh_start: bool = False, code: str = "") -> Start:
    """Make run_dir ready for `config` (run_config()'s dict) trained by `code` (code_hash's fingerprint).

    Only rank zero changes files. Other ranks (DDP's later processes, SLURM's other tasks) reach the same
    answer whether they look before or after rank zero has tidied up: both states read "fresh" or "resume"."""
    fingerprint = fingerprint_of(config)
    action, why = _inspect(run_dir, fingerprint, code)
    if action == "adopt" and not fresh_start:
        return Start(adopted=_adopt(run_dir))
    if action == "changed" and not fresh_start:
        raise ConfigChanged(f"{run_dir} {why} ({differing_keys(_stored(run_dir)['config'], config)}): run it with "
                            "its own config to resume it, or add fresh_start=true to set it aside and start over")
    if action == "resume" and not fresh_start:
        check_readable(run_dir / LAST_CKPT)
        log.info("%s: resuming from %s", run_dir, LAST_CKPT)
        return Start(checkpoint=run_dir / LAST_CKPT)
    if rank_zero:
        if action != "fresh":
            _move_aside(run_dir, why if action not in ("resume", "adopt") else "was asked to start fresh")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / FINGERPRINT, {"fingerprint": fingerprint, "config": config, "code": code})
    return Start()


def check_readable(ckpt: Path) -> None:
    """A checkpoint cut short (a full disk, a copy broken off) fails inside Lightning with a zip traceback. torch
    writes a zip archive whose directory is at its end, so opening it finds a truncation cheaply."""
    try:
        with zipfile.ZipFile(ckpt) as archive:
            archive.infolist()
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        best = ckpt.with_name(BEST_CKPT.name)
        way = f"resume from the best epoch with ckpt_path={best}, or " if best.exists() and best != ckpt else ""
        raise CheckpointUnreadable(f"{ckpt} cannot be read ({err}): {way}start over with fresh_start=true") from None
