"""train(cfg): one training, or none when its run folder already holds it finished.

The decision needs no torch and no Lightning (seconds of imports): `dvc repro` after `alexnet-matrix` runs every
train stage's command again, and each finds its finished run ("up to date", resume.py) in about a second. Only
a run with something to train imports training/fit.py."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from alexnet_repro.basics import ConfigError
from alexnet_repro.code_hash import TRAINING_ENTRY, code_fingerprint
from alexnet_repro.data.store import fingerprint
from alexnet_repro.schema import validate
from alexnet_repro.training import lock, resume
from alexnet_repro.training.config import TrainConfig

RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")  # Lightning's order (rank_zero.py)


def process_rank() -> int:
    """This process's global rank as Lightning will read it, before Lightning is imported."""
    return next((int(os.environ[k]) for k in RANK_VARIABLES if os.environ.get(k) is not None), 0)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # only an empty folder: never a run's files
    except OSError:
        pass


def gpus_wanted(devices) -> int:
    """How many GPUs a Lightning `devices` value asks for: "auto" and -1 mean at least one."""
    if isinstance(devices, int) and devices > 0:
        return devices
    if isinstance(devices, (list, tuple)):
        return len(devices)
    if isinstance(devices, str) and devices.strip() not in ("auto", "-1"):
        ids = [d for d in devices.split(",") if d.strip()]
        return len(ids) if len(ids) > 1 or devices.endswith(",") else int(ids[0])
    return 1


def refuse_missing_gpus(accelerator: str, devices) -> None:
    """trainer=gpu or ddp2 on a machine without those GPUs: one line before the run folder is touched, instead of
    Lightning's traceback after the run's config is written."""
    if accelerator not in ("gpu", "cuda"):
        return
    import torch  # only for a GPU preset: the adoption path stays free of torch

    wanted, have = gpus_wanted(devices), torch.cuda.device_count()
    if have < wanted:
        raise ConfigError(f"trainer.accelerator={accelerator} with trainer.devices={devices} needs {wanted} "
                          f"GPU(s), this machine has {have}: use trainer=cpu, or trainer=ddp2_cpu for two CPU "
                          "processes")


def train(raw_cfg: DictConfig, run_dir: str | Path, extra_callbacks: list | tuple = ()) -> dict:
    """The run's summary: the finished run's own when run_dir holds this configuration, data and code finished."""
    try:
        cfg = validate(raw_cfg, TrainConfig)  # before the folder is locked or used
        refuse_missing_gpus(cfg.trainer.accelerator, cfg.trainer.devices)
    except ConfigError:
        _remove_if_empty(Path(run_dir))  # Hydra made it before the task started: a bad value leaves nothing behind
        raise
    run_dir = Path(run_dir).resolve()
    resolved = OmegaConf.to_container(raw_cfg, resolve=True)
    resolved.pop("hydra", None)
    store = fingerprint(cfg.data.store_dir)
    # One training per run folder: a second start stops in one line naming the first's PID (lock.py).
    with lock.hold(run_dir, process_rank() == 0):
        if not (cfg.ckpt_path or cfg.fresh_start):
            adopted = resume.adoptable(run_dir, resume.run_config(resolved, store), code_fingerprint(TRAINING_ENTRY))
            if adopted is not None:
                return adopted
        from alexnet_repro.training.fit import fit  # torch and Lightning: only when there is training to do

        return fit(cfg, resolved, store, run_dir, extra_callbacks)
