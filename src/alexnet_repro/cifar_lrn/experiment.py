"""One net's seeds: each trained and tested (train.py), kept as a small JSON in run_dir so that a killed stage
resumes seed by seed; the result is written last (result.py), whole or not at all."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from alexnet_repro.atomic import write_bytes
from alexnet_repro.cifar_lrn.config import CifarLrnConfig
from alexnet_repro.cifar_lrn.result import CifarLrnResult, SeedResult, write
from alexnet_repro.cli import log
from alexnet_repro.code_hash import code_fingerprint
from alexnet_repro.data.store import fingerprint

ENTRY = "alexnet_repro.stages.cifar_lrn"  # the code a finished result's adoption covers


def inputs(cfg: CifarLrnConfig) -> dict:
    """What decides the result: the settings (less locations and the device), the store, the code."""
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("paths", "data", "run_dir", "out", "device")}
    return {"settings": settings, "dataset": cfg.data.name, "store": fingerprint(cfg.data.store_dir),
            "code": code_fingerprint(ENTRY)}


def _cached(path: Path, made: dict) -> SeedResult | None:
    try:
        d = json.loads(path.read_text())
        return SeedResult(**d["seed"]) if d["inputs"] == made else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run(cfg: CifarLrnConfig, made: dict) -> CifarLrnResult:
    import lightning as L
    import torch

    from alexnet_repro.cifar_lrn.train import train_and_test
    from alexnet_repro.data.raw_pixels import mean_subtracted

    torch.set_num_threads(cfg.cpu_threads)  # the rounding of a CPU run depends on it
    fabric = L.Fabric(accelerator=cfg.device, devices=1, precision="32-true")
    train = mean_subtracted(cfg.data.store_dir, cfg.data.stats_path, cfg.data.image_size, "train")
    test = mean_subtracted(cfg.data.store_dir, cfg.data.stats_path, cfg.data.image_size, "val")
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seeds = []
    for seed in cfg.seeds:
        path = run_dir / f"seed{seed}.json"
        done = _cached(path, made)
        if done is None:
            done = train_and_test(fabric, train, test, cfg.net, seed, cfg.epochs, list(cfg.cuts), cfg.crop,
                                  cfg.views, cfg.batch_size)
            write_bytes(path, json.dumps({"inputs": made, "seed": asdict(done)}).encode())
        log.info("cifar_lrn %s seed %d: test error %.1f%% (%s), last epoch's training error %.1f%% (%.1f s)",
                 cfg.net, seed, done.test_error * 100, cfg.views, done.train_error * 100, done.seconds)
        seeds.append(done)
    result = CifarLrnResult(net=cfg.net, dataset=cfg.data.name, epochs=cfg.epochs, views=cfg.views,
                            train_images=len(train[1]), test_images=len(test[1]), seeds=tuple(seeds), inputs=made)
    write(cfg.out, result)
    return result
