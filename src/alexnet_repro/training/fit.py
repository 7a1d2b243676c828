"""fit(): build data, model, callbacks, loggers and trainer from a validated config, then train. Everything here
needs Lightning and torch; training/run.py decides first, without them, whether there is anything to train."""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import asdict, replace
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import OmegaConf

from alexnet_repro import health
from alexnet_repro.atomic import write_bytes
from alexnet_repro.code_hash import TRAINING_ENTRY, code_fingerprint
from alexnet_repro.data.dali_loader import check_dali
from alexnet_repro.data.datamodule import StoreDataModule
from alexnet_repro.data.pixel_stats import PixelStats
from alexnet_repro.data.store import downscale, read_info
from alexnet_repro.export import FILENAME, LAST_FILENAME, ExportError, load_model, save_model
from alexnet_repro.results import (
    LR,
    RUN_CONFIG,
    RUN_HISTORY,
    SELECTION,
    SELECTION_ERR_TOP1,
    TRAIN_ERR_TOP1,
    TRAIN_LOSS,
    read_history,
    write_train_summary,
)
from alexnet_repro.seeds import init_seed
from alexnet_repro.training import resume
from alexnet_repro.training.callbacks import (
    AtomicCheckpointIO,
    EpochHistory,
    LastCheckpoint,
    LocalLinks,
    LogFilters,
    Throughput,
)
from alexnet_repro.training.config import TrainConfig, TrainerConfig
from alexnet_repro.training.module import AlexNetModule, floor_reached_at
from alexnet_repro.training.signals import Preemption
from alexnet_repro.transforms import EvalPreset, Normalization, TrainPreset

WANDB_ID = "wandb_id.txt"


def build_loggers(cfg: TrainConfig, run_dir: Path, resolved: dict) -> list:
    if cfg.logger.backend == "none" or cfg.trainer.fast_dev_run:
        return []
    from alexnet_repro.training.wandb_rows import ContinuedWandbLogger

    mode = os.environ.get("WANDB_MODE", cfg.logger.mode)  # the one setting read from the environment
    m = cfg.model
    switches = [f"activation:{m.activation}", f"lrn:{m.lrn.enabled}", f"pool:{m.pool_kernel}/{m.pool_stride}",
                f"dropout:{m.dropout}", f"towers:{m.towers}", f"lighting:{cfg.augment.lighting_std}"]
    tags = [f"data:{cfg.data.name}", f"profile:{cfg.profile_name}", *switches, *cfg.logger.tags]
    group = f"{cfg.data.name}/{cfg.profile_name}/{cfg.experiment_name}"  # the same group as evaluation's
    return [ContinuedWandbLogger(project=cfg.logger.project, entity=cfg.logger.entity, group=group,
                                 job_type="train", name=f"{cfg.experiment_name}-seed{cfg.seed}", tags=tags,
                                 save_dir=str(run_dir), mode=mode, config=resolved, id=wandb_run_id(run_dir),
                                 resume="allow")]


def wandb_run_id(run_dir: Path) -> str:
    """One W&B run per run folder: a resumed training continues it instead of opening another. The id is
    written by the first process (DDP's other ranks start later, inside fit, and read it)."""
    path = run_dir / WANDB_ID
    if not path.exists():
        alphabet = string.ascii_lowercase + string.digits  # W&B's own ids: 8 such characters
        write_bytes(path, "".join(secrets.choice(alphabet) for _ in range(8)).encode())
    return path.read_text().strip()


def build_callbacks(cfg: TrainConfig, run_dir: Path, best: ModelCheckpoint) -> list:
    last = LastCheckpoint(run_dir / resume.LAST_CKPT, cfg.trainer.ckpt_every_n_steps,
                          cfg.trainer.checkpoint_every_minutes)
    preemption = Preemption(last)
    callbacks = [
        Throughput(),  # first: its epoch figures must be logged before EpochHistory reads them
        EpochHistory(run_dir / RUN_HISTORY),
        best,
        last,
        preemption,  # after `last`: SIGTERM/USR1/USR2 save last.ckpt and exit non-zero (signals.py)
        preemption.epoch_end_stop(),  # a checkpoint callback: runs after `best` and `last` at an epoch's end
        LocalLinks(run_dir),  # no links out of the run folder (W&B's debug-core.log): links.py
    ]
    if cfg.logger.log_filters and cfg.logger.backend == "wandb":
        callbacks.append(LogFilters())
    return callbacks


def uses_cuda(t: TrainerConfig) -> bool:
    return t.accelerator in ("gpu", "cuda") or (t.accelerator == "auto" and torch.cuda.is_available())


def speed_up(module: AlexNetModule, t: TrainerConfig) -> None:
    """The trainer's throughput switches. None changes what is learned beyond float rounding (TF32 matmuls,
    cuDNN's choice of conv algorithm), so they are settings, not experiments."""
    if uses_cuda(t):
        torch.set_float32_matmul_precision("high")  # TF32 for fp32 matmuls outside autocast (cuDNN convs: default)
    if t.channels_last:
        module.net.to(memory_format=torch.channels_last)  # the batches follow in AlexNetModule.layout
    if t.compile:
        # nn.Module.compile compiles in place: module.net stays the AlexNet, its state_dict keys carry no
        # `_orig_mod.` prefix, so checkpoints, resume and export (save_model) see the plain net.
        module.net.compile(mode=t.compile_mode)


def initial_weights(module: AlexNetModule, path: str) -> None:
    """init_from: another run's exported model starts this one (section 6: pretrain, then fine-tune). Every
    layer but fc8 must match; fc8 is taken too when the classes are the same, kept fresh when they differ."""
    source = load_model(path).net.state_dict()
    target = module.net.state_dict()
    mismatched = [k for k in target if k in source and source[k].shape != target[k].shape and not k.startswith("fc8")]
    missing = [k for k in target if k not in source]
    if mismatched or missing:
        raise ExportError(f"init_from={path}: its net differs from this one ({', '.join(mismatched + missing)}): "
                          "fine-tuning needs the same layers")
    module.net.load_state_dict({k: v for k, v in source.items() if v.shape == target[k].shape}, strict=False)


def run_health(history: dict[str, list[float]], classes: int, cfg: TrainConfig) -> dict:
    o = cfg.optim
    floor = floor_reached_at(o.lr, o.factor, o.max_reductions) if o.schedule == "plateau" else 0.0
    return health.classify(history.get(TRAIN_LOSS, []), history.get(TRAIN_ERR_TOP1, []), history.get(LR, []),
                           classes, floor, cfg.trainer.max_epochs)


def check_machine(cfg: TrainConfig) -> None:
    if cfg.data.decoder == "dali":  # before any run folder is touched: a one-line error, never a CPU fallback
        check_dali(uses_cuda(cfg.trainer), read_info(cfg.data.store_dir).encoding, cfg.data.image_size)
    if cfg.trainer.cpu_threads and not uses_cuda(cfg.trainer):
        torch.set_num_threads(cfg.trainer.cpu_threads)  # rounding depends on it: conf/trainer/default.yaml


def start_of(cfg: TrainConfig, resolved: dict, store: str, run_dir: Path) -> resume.Start:
    """An explicit ckpt_path is the user's choice; otherwise the folder decides (resume.py)."""
    if cfg.ckpt_path:
        return resume.Start(checkpoint=Path(cfg.ckpt_path))
    return resume.prepare(run_dir, resume.run_config(resolved, store), rank_zero_only.rank == 0, cfg.fresh_start,
                          code=code_fingerprint(TRAINING_ENTRY))


def build_data(cfg: TrainConfig) -> tuple[StoreDataModule, Normalization]:
    """The store's batches with section 4.1's presets, and the normalisation the exported models carry."""
    stats = PixelStats.load(cfg.data.stats_path)
    a = cfg.augment
    norm = Normalization(a.mean, a.input_scale, downscale(stats.mean_image, cfg.data.image_size), stats.mean_rgb)
    size = cfg.model.input_size
    train_preset = TrainPreset(norm, size, stats.eigenvalues, stats.eigenvectors, augment=a)
    return StoreDataModule(cfg.data, train_preset, EvalPreset(norm, size), cfg.seed), norm


def build_module(cfg: TrainConfig, resolved: dict, num_classes: int, resuming: bool) -> AlexNetModule:
    model = replace(cfg.model, num_classes=num_classes)  # the store decides the classes
    resolved["model"]["num_classes"] = num_classes
    module = AlexNetModule(asdict(model), cfg.optim, channels_last=cfg.trainer.channels_last)
    if cfg.init_from and not resuming:
        initial_weights(module, cfg.init_from)
    speed_up(module, cfg.trainer)
    return module


def best_checkpoint(run_dir: Path) -> ModelCheckpoint:
    """best.ckpt by the paper's criterion, top-1 error, on minival: never on the images evaluate scores."""
    return ModelCheckpoint(dirpath=run_dir / resume.CHECKPOINTS, filename=resume.BEST, monitor=SELECTION_ERR_TOP1,
                           mode="min", save_top_k=1, enable_version_counter=False, auto_insert_metric_name=False)


def build_trainer(cfg: TrainConfig, run_dir: Path, resolved: dict, best: ModelCheckpoint,
                  extra_callbacks: list | tuple) -> L.Trainer:
    t = cfg.trainer
    limits = {k: v for k, v in (("limit_train_batches", t.limit_train_batches),
                                ("limit_val_batches", t.limit_val_batches)) if v is not None}
    return L.Trainer(
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        precision=t.precision, max_epochs=t.max_epochs, fast_dev_run=t.fast_dev_run,
        log_every_n_steps=t.log_every_n_steps, deterministic=t.deterministic,
        benchmark=uses_cuda(t) and not t.deterministic,  # fixed shapes: cuDNN times each conv algorithm once
        enable_progress_bar=t.enable_progress_bar, use_distributed_sampler=False,
        default_root_dir=str(run_dir), logger=build_loggers(cfg, run_dir, resolved) or False,
        callbacks=[*build_callbacks(cfg, run_dir, best), *extra_callbacks], plugins=[AtomicCheckpointIO()], **limits)


def close_wandb(trainer: L.Trainer) -> str | None:
    """The online run's address, if any. The run is closed now: the next job of a Hydra sweep (same process) must
    start a run of its own."""
    if not (trainer.is_global_zero and trainer.loggers):
        return None
    run = trainer.loggers[0].experiment
    url = run.url if run.settings.mode == "online" else None
    run.finish()
    return url


def summarize(cfg: TrainConfig, trainer: L.Trainer, best: ModelCheckpoint, run_dir: Path) -> dict:
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    wandb_url = close_wandb(trainer)
    return {
        "experiment": cfg.experiment_name, "seed": cfg.seed, "epochs": trainer.current_epoch,
        "global_step": trainer.global_step, "metrics": metrics, "selection": SELECTION,
        "best_selection_err_top1": None if best.best_model_score is None else float(best.best_model_score),
        "best_checkpoint": str(Path(best.best_model_path).relative_to(run_dir)) if best.best_model_path else None,
        "wandb_url": wandb_url,
        "cpu_threads": None if uses_cuda(cfg.trainer) else torch.get_num_threads(),  # the float rounding depends on it
    }


def export(cfg: TrainConfig, run_dir: Path, module: AlexNetModule, data: StoreDataModule, store: str,
           norm: Normalization, best: ModelCheckpoint) -> dict:
    """The last weights, then the chosen epoch's, as plain models: what evaluation loads (export.py). Returns what
    the summary gains."""
    save_model(run_dir / LAST_FILENAME, module.net, data.info.classes, store, norm)
    best_state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(best_state)
    save_model(run_dir / FILENAME, module.net, data.info.classes, store, norm)
    return {"model": FILENAME, "model_last": LAST_FILENAME,
            "health": run_health(read_history(run_dir / RUN_HISTORY), data.num_classes, cfg),
            "health_rule": health.RULE}


def fit(cfg: TrainConfig, resolved: dict, store: str, run_dir: Path, extra_callbacks: list | tuple = ()) -> dict:
    """Train (or resume) the run `resolved` (the composed config, resolved, without Hydra's) of store `store` in
    run_dir, which training/run.py has locked and found not to hold this run finished."""
    check_machine(cfg)
    start = start_of(cfg, resolved, store, run_dir)
    if start.adopted is not None:
        return start.adopted
    L.seed_everything(init_seed(cfg.seed), workers=True)  # the initial weights' own stream
    data, norm = build_data(cfg)
    module = build_module(cfg, resolved, data.num_classes, resuming=start.checkpoint is not None)
    best = best_checkpoint(run_dir)
    trainer = build_trainer(cfg, run_dir, resolved, best, extra_callbacks)
    # weights_only: a ckpt_path= is a user's file
    trainer.fit(module, datamodule=data, ckpt_path=start.checkpoint, weights_only=True)
    summary = summarize(cfg, trainer, best, run_dir)
    if trainer.is_global_zero and not cfg.trainer.fast_dev_run:
        summary.update(export(cfg, run_dir, module, data, store, norm, best))
        OmegaConf.save(OmegaConf.create(resolved), run_dir / RUN_CONFIG)
        write_train_summary(run_dir, summary)
    return summary
