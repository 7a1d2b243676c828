"""Callbacks: the per-epoch history file later stages read, throughput, Figure 3's kernels in W&B."""

from __future__ import annotations

import csv
import io
import time

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from alexnet_repro.atomic import atomic_path, write_bytes
from alexnet_repro.viz import filter_grid

HISTORY_COLUMNS = ["epoch", "step", "train/loss", "train/err_top1", "val/loss", "val/err_top1", "val/err_top5",
                   "lr", "train/images_per_s", "wall_s"]


class Throughput(L.Callback):
    """Training images per second over each epoch's training batches (validation excluded), all devices."""

    def __init__(self):
        self.started = self.last = 0.0
        self.images = 0

    def on_train_epoch_start(self, trainer, pl_module):
        self.started = self.last = time.perf_counter()
        self.images = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.images += len(batch[1]) * trainer.world_size
        self.last = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        seconds = max(self.last - self.started, 1e-9)
        pl_module.log("train/images_per_s", self.images / seconds)


class EpochHistory(L.Callback):
    """history.csv, one row per epoch, rewritten atomically: the training curves DVC plots and the report
    draw without W&B. Its rows travel in checkpoints, so a resumed run's history is whole."""

    def __init__(self, path):
        self.path = path
        self.rows: list[dict] = []
        self.started = time.perf_counter()  # wall_s counts training time, summed over restarts

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        # Every rank reads: callback_metrics all-reduces the sync_dist values, a collective call.
        metrics = trainer.callback_metrics
        if not trainer.is_global_zero:
            return
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step,
               "wall_s": round(time.perf_counter() - self.started, 3)}
        for key in HISTORY_COLUMNS[2:-1]:
            value = metrics.get(key, metrics.get(f"{key}_epoch"))
            row[key] = "" if value is None else float(value)
        self.rows.append(row)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows)
        write_bytes(self.path, buffer.getvalue().encode())

    def state_dict(self):
        return {"rows": self.rows, "elapsed_s": time.perf_counter() - self.started}

    def load_state_dict(self, state_dict):
        self.rows = list(state_dict.get("rows", []))
        self.started = time.perf_counter() - state_dict.get("elapsed_s", 0.0)


class LastCheckpoint(L.Callback):
    """last.ckpt, what `ckpt_path=` resumes from: every `every_n_steps` steps and at each epoch's end.
    (ModelCheckpoint's save_last writes only when a top-k checkpoint was saved in the same step, so it lags
    whenever validation error does not improve.) Written through AtomicCheckpointIO: never half a file."""

    def __init__(self, path, every_n_steps: int):
        self.path, self.every_n_steps = str(path), every_n_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step % self.every_n_steps == 0 and not trainer.fast_dev_run:
            trainer.save_checkpoint(self.path)

    def on_train_epoch_end(self, trainer, pl_module):
        if not trainer.fast_dev_run and not trainer.sanity_checking:
            trainer.save_checkpoint(self.path)


class LogFilters(L.Callback):
    """Figure 3: the learned conv1 kernels, one mosaic per tower, logged to W&B when training ends."""

    def on_fit_end(self, trainer, pl_module):
        loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        if not loggers or not trainer.is_global_zero:
            return
        grids = filter_grid(pl_module.net.features.conv1.weight, pl_module.net.spec.towers)
        loggers[0].log_image("conv1_filters", images=list(grids),
                             caption=[f"tower {i + 1}" for i in range(len(grids))])


class AtomicCheckpointIO(TorchCheckpointIO):
    """A checkpoint appears under its name only once completely written (temp file, then rename)."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)
