"""One activation's Figure 1: the pilot grid (every rate of lr_scales on the pilot seeds), the pick (pick.py), then
the reported seeds at the picked rate. Each finished net is kept as a small JSON in run_dir, so a killed stage
resumes net by net; the result is written last (result.py), whole or not at all."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from alexnet_repro.atomic import write_bytes
from alexnet_repro.cli import log
from alexnet_repro.code_hash import code_fingerprint
from alexnet_repro.data.store import fingerprint
from alexnet_repro.figure1.config import Figure1Config
from alexnet_repro.figure1.pick import pick
from alexnet_repro.figure1.result import Curve, Figure1Result, write

ENTRY = "alexnet_repro.stages.figure1"  # the code a finished result's adoption covers


def inputs(cfg: Figure1Config) -> dict:
    """What decides the result: the settings (less locations and the device), the store, the code."""
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("paths", "data", "run_dir", "out", "device")}
    return {"settings": settings, "dataset": cfg.data.name, "store": fingerprint(cfg.data.store_dir),
            "code": code_fingerprint(ENTRY)}


def _cached(run_dir: Path, key: str, made: dict) -> Curve | None:
    try:
        d = json.loads((run_dir / f"{key}.json").read_text())
        return Curve(**{k: tuple(v) if isinstance(v, list) else v for k, v in d["curve"].items()}) \
            if d["inputs"] == made else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run(cfg: Figure1Config, made: dict) -> Figure1Result:
    import lightning as L
    import torch

    from alexnet_repro.data.raw_pixels import mean_subtracted
    from alexnet_repro.figure1.train import train_curve

    torch.set_num_threads(cfg.cpu_threads)  # the rounding of a CPU run depends on it
    fabric = L.Fabric(accelerator=cfg.device if cfg.device != "auto" else "auto", devices=1, precision="32-true")
    x, y = mean_subtracted(cfg.data.store_dir, cfg.data.stats_path, cfg.data.image_size)
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)

    def net(seed: int, scale: float, role: str) -> Curve:
        key = f"{role}-seed{seed}-lr{scale:g}"
        curve = _cached(run_dir, key, made)
        if curve is None:
            curve = train_curve(fabric, x, y, cfg.layers, cfg.activation, scale, seed, cfg.level, cfg.max_epochs,
                                cfg.batch_size, cfg.log_every)
            write_bytes(run_dir / f"{key}.json", json.dumps({"inputs": made, "curve": asdict(curve)}).encode())
        log.info("figure1 %s %s seed %d lr x%g: %s steps to %.0f%% (%.1f epochs, %.1f s)", cfg.activation, role,
                 seed, scale, curve.reach(cfg.level), cfg.level * 100, curve.epochs, curve.seconds)
        return curve

    pilots = [net(seed, scale, "pilot") for scale in cfg.grid for seed in cfg.pilot_seeds]
    chosen = pick(pilots, cfg.level)
    log.info("figure1 %s: lr x%g picked on pilot seeds %s%s", cfg.activation, chosen.lr_scale, cfg.pilot_seeds,
             " (at the grid's edge)" if chosen.at_edge else "")
    runs = [net(seed, chosen.lr_scale, "run") for seed in cfg.seeds]
    result = Figure1Result(activation=cfg.activation, layers=cfg.layers, dataset=cfg.data.name, level=cfg.level,
                           batch_size=cfg.batch_size, train_images=len(y), pilots=tuple(pilots), pick=chosen,
                           runs=tuple(runs), inputs=made)
    write(cfg.out, result)
    return result
