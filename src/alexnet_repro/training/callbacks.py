"""Callbacks: the per-epoch history file later stages read, throughput, Figure 3's kernels in W&B."""

from __future__ import annotations

import csv
import errno
import io
import shutil
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from alexnet_repro.atomic import atomic_path, write_bytes
from alexnet_repro.results import LR, LRN_WINDOW_COLUMNS, SELECTION, SELECTION_ERR_TOP1, TRAIN_ERR_TOP1, TRAIN_LOSS
from alexnet_repro.training.links import localize_links
from alexnet_repro.viz import filter_grid

HISTORY_COLUMNS = ["epoch", "step", TRAIN_LOSS, TRAIN_ERR_TOP1, f"{SELECTION}/loss", SELECTION_ERR_TOP1,
                   f"{SELECTION}/err_top5", *LRN_WINDOW_COLUMNS.values(), LR, "train/images_per_s",
                   "train/images_per_s_per_device", "train/data_wait_frac", "wall_s"]


class Throughput(L.Callback):
    """Training images per second over each epoch's training batches (validation excluded): all devices
    together and per device, and the fraction of that time spent waiting for data.

    The wait is the host's time from the end of step k (on_train_batch_end) to the start of step k+1
    (on_train_batch_start), plus the epoch's start to its first step: the loader's next(), the host-to-device
    copy and the DataModule's on-device presets (Lightning runs those before on_train_batch_start). No CUDA
    synchronize, on purpose (it would stall the queue it measures): kernels of step k still running on the GPU
    while the host waits are counted as wait, so on a GPU the fraction is an upper bound on the GPU's idle
    share; near 0 means the loader keeps up, a large value is worth a look with the profiler. A step that writes
    last.ckpt (LastCheckpoint runs after this callback) counts its write as wait too."""

    def __init__(self):
        self.started = self.last = 0.0
        self.images = 0
        self.waiting = 0.0

    def on_train_epoch_start(self, trainer, pl_module):
        self.started = self.last = time.perf_counter()
        self.images = 0
        self.waiting = 0.0

    def on_train_start(self, trainer, pl_module):
        # A run resumed mid-epoch gets no on_train_epoch_start for that epoch: count from the restart (the
        # clock's zero, the machine's boot, made its rate 0.05 images/s and its wait 100%).
        self.on_train_epoch_start(trainer, pl_module)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.waiting += time.perf_counter() - self.last

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.images += len(batch[1]) * trainer.world_size
        self.last = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        seconds = max(self.last - self.started, 1e-9)
        pl_module.log("train/images_per_s", self.images / seconds)
        pl_module.log("train/images_per_s_per_device", self.images / seconds / trainer.world_size)
        pl_module.log("train/data_wait_frac", min(self.waiting / seconds, 1.0), prog_bar=True)


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


class LastCheckpoint(Checkpoint):
    """last.ckpt, what `ckpt_path=` resumes from: every `every_n_steps` steps and at each epoch's end.
    (ModelCheckpoint's save_last writes only when a top-k checkpoint was saved in the same step, so it lags
    whenever validation error does not improve.) Written through AtomicCheckpointIO: never half a file.

    A Checkpoint, so that Lightning runs its epoch-end save after the best-checkpoint callback's (checkpoint
    callbacks go last, in list order): last.ckpt then holds that epoch's best-checkpoint decision. As a plain
    callback it saved first, and a kill between the two saves resumed a run that had forgotten the epoch's score:
    it could pick another best epoch and export other weights than the uninterrupted run."""

    POLL_EVERY = 16  # steps between checks of the clock under DDP: each check is a collective

    def __init__(self, path, every_n_steps: int, every_minutes: float | None = None):
        """every_minutes: also save when this much wall time has passed since the last save (None: off),
        for long epochs at the paper's scale where a step count is a poor proxy for time lost to a crash."""
        self.path, self.every_n_steps = str(path), every_n_steps
        self.every_s = None if every_minutes is None else every_minutes * 60.0
        self.saved_at = time.monotonic()

    def save(self, trainer) -> None:
        trainer.save_checkpoint(self.path)
        self.saved_at = time.monotonic()

    def time_is_up(self, trainer) -> bool:
        if self.every_s is None:
            return False
        if trainer.world_size == 1:
            return time.monotonic() - self.saved_at >= self.every_s
        # save_checkpoint is collective: every rank must agree, so rank 0's clock decides, checked only every
        # POLL_EVERY steps to keep the broadcast off most steps.
        if trainer.global_step % self.POLL_EVERY:
            return False
        return bool(trainer.strategy.broadcast(time.monotonic() - self.saved_at >= self.every_s, src=0))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.fast_dev_run:
            return
        if trainer.global_step % self.every_n_steps == 0 or self.time_is_up(trainer):
            self.save(trainer)

    def on_train_epoch_end(self, trainer, pl_module):
        if not trainer.fast_dev_run and not trainer.sanity_checking:
            self.save(trainer)


class LogFilters(L.Callback):
    """Figure 3: the learned conv1 kernels, one mosaic per tower, logged to W&B when training ends."""

    def on_fit_end(self, trainer, pl_module):
        loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        if not loggers or not trainer.is_global_zero:
            return
        grids = filter_grid(pl_module.net.features.conv1.weight, pl_module.net.spec.towers)
        loggers[0].log_image("conv1_filters", images=list(grids),
                             caption=[f"tower {i + 1}" for i in range(len(grids))])


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the previous one under that name is untouched (atomic_path)."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """A checkpoint appears under its name only once completely written (temp file, then rename)."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        try:
            with atomic_path(path) as tmp:
                torch.save(checkpoint, tmp)
        except (OSError, RuntimeError) as err:
            raise CheckpointWriteError(write_failure(Path(path), err)) from err


def write_failure(path: Path, err: BaseException) -> str:
    """One line for a failed write. torch reports a full disk as `RuntimeError: basic_ios::clear: iostream
    error` or a `PytorchStreamWriter failed writing file`, without errno: a nearly full disk is named as such."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    full = getattr(err, "errno", None) == errno.ENOSPC or (free is not None and free < 64 << 20)
    reason = " ".join(str(err).split()) or type(err).__name__
    if full:
        return f"no space left on {path.parent} while writing {path.name} ({reason}); the previous {path.name}, " \
               "if any, is untouched: free some space and start the run again to resume it"
    return f"{path} could not be written ({reason}); the previous {path.name}, if any, is untouched"


class LocalLinks(L.Callback):
    """When fitting ends, links out of the run folder (W&B's debug-core.log) become copies."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)

    def on_fit_end(self, trainer, pl_module):
        if trainer.is_global_zero:
            localize_links(self.run_dir)
