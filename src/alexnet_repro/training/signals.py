"""Preemption as a routine event: a signal that asks a training to stop saves `last.ckpt` and ends the process
with a non-zero code, so that neither the user nor `dvc repro` takes a stopped run for a finished one (it never
reaches train_summary.json, the done marker), and the next start resumes it (resume.py).

  SIGTERM   a user's kill, an OOM daemon, SLURM ending a step: save, exit 143 (128 + 15, a shell's code for it)
  SIGUSR1   SLURM's `--signal=USR1@<s>` warning (what Lightning's auto-requeue listens for): save, requeue the
            job when under SLURM (`scontrol requeue`, as Lightning does), exit 138
  SIGUSR2   submitit's preemption and time-out signal (Hydra's submitit launcher): save, then hand over to the
            handler submitit installed at start, which requeues the job and exits; elsewhere exit 140
Whatever the signal, a Python handler installed before training (submitit's) is called after the save, and
decides: it may exit (submitit's USR2: requeue, exit), or return (submitit's SIGTERM "bypass"), and then
training goes on, with last.ckpt holding the step of the signal.

Lightning's own SIGTERM handling stops the loops with SIGTERMException, a SystemExit of code None: exit 0,
without a checkpoint. This callback replaces Lightning's handlers once training starts, stops only at a batch
boundary (the state a step checkpoint holds, which resumes exactly), lets a validation that has begun finish
(the epoch-end checkpoint follows it), and gives a SIGTERMException raised before training starts (during the
sanity check) the code 143.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading

import lightning as L
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


def exit_code(signum: int) -> int:
    """What a shell, SLURM and DVC report for a process ended by this signal: 128 + its number."""
    return 128 + int(signum)


class Preempted(SystemExit):
    """The run stopped on a signal after saving its checkpoint; the code says which signal."""


def slurm_job_id() -> str | None:
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array is not None and "SLURM_ARRAY_TASK_ID" in os.environ:
        return f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


def requeue_slurm_job(job_id: str) -> None:
    """Put the job back in SLURM's queue (it restarts the same command, which resumes the run)."""
    try:
        done = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.warning("could not requeue SLURM job %s: %s", job_id, err)
        return
    if done.returncode:
        log.warning("scontrol requeue %s failed (%d): %s", job_id, done.returncode, done.stderr.strip())
    else:
        log.warning("requeued SLURM job %s", job_id)


class Preemption(L.Callback):
    """Place it after LastCheckpoint, with its epoch_end_stop() after both checkpoint callbacks: a signal during
    validation stops the run once the epoch's end is saved."""

    POLL_EVERY = 16  # steps between the ranks' agreement under DDP: each check is a collective

    def __init__(self, last_checkpoint):
        self.last = last_checkpoint  # callbacks.LastCheckpoint: its save() writes last.ckpt atomically
        self.received: int | None = None
        self.before: dict = {}

    # --- handlers -------------------------------------------------------------------------------------------

    def _handle(self, signum, frame) -> None:
        # Only a note: the stop happens at the next batch boundary, where the state is whole.
        if self.received is None:
            self.received = signum

    def on_fit_start(self, trainer, pl_module):
        # The handlers of the process before Lightning adds its own (submitit's, or the defaults).
        self.before = {s: signal.getsignal(s) for s in SIGNALS}

    def on_train_start(self, trainer, pl_module):
        # After Lightning registered its handlers (at the end of its set-up): these replace them. Lightning's
        # teardown puts back the handlers it found, the same ones as self.before.
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                signal.signal(s, self._handle)

    def _restore(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for s, handler in self.before.items():
            if signal.getsignal(s) == self._handle and handler is not None:
                signal.signal(s, handler)

    # --- when to stop -----------------------------------------------------------------------------------------

    def _asked(self, trainer, every_step: bool) -> bool:
        """Whether any rank received a signal; under DDP all ranks must agree (the save is collective)."""
        if trainer.world_size == 1:
            return self.received is not None
        if not every_step and trainer.global_step % self.POLL_EVERY:
            return False
        return bool(trainer.strategy.reduce_boolean_decision(self.received is not None, all=False))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if not trainer.fast_dev_run and self._asked(trainer, every_step=False):
            self._stop(trainer, save=True)

    def epoch_saved(self, trainer) -> None:
        """A signal during validation: LastCheckpoint has just saved the epoch's end (EpochEndStop calls this)."""
        if not trainer.fast_dev_run and not trainer.sanity_checking and self._asked(trainer, every_step=True):
            self._stop(trainer, save=False)

    def epoch_end_stop(self) -> EpochEndStop:
        return EpochEndStop(self)

    def _stop(self, trainer, save: bool) -> None:
        signum = self.received or signal.SIGTERM  # another rank's signal: the common case, TERM
        name = signal.Signals(signum).name
        if save:
            self.last.save(trainer)
        previous = self.before.get(signum)
        if callable(previous):
            # A handler that was there before training decides what follows, now that the state is saved:
            # submitit's USR2 handler requeues the job and exits; its SIGTERM handler only logs (on clusters
            # that send TERM before the preemption signal) and training goes on.
            log.warning("%s received at step %d: %s holds this step; handing over to the handler in place "
                        "before training", name, trainer.global_step, self.last.path)
            self._restore()
            previous(signum, None)
            self.received = None
            self.on_train_start(trainer, trainer.lightning_module)  # it returned: keep training, still listening
            return
        code = exit_code(signum)
        log.warning("%s received at step %d: %s holds this step; exiting with code %d (start the run again to "
                    "resume it)", name, trainer.global_step, self.last.path, code)
        self._restore()
        if signum != signal.SIGTERM and trainer.is_global_zero and (job := slurm_job_id()) is not None:
            requeue_slurm_job(job)
        raise Preempted(code)

    def on_exception(self, trainer, pl_module, exception):
        if isinstance(exception, SIGTERMException) and exception.code is None:
            exception.code = exit_code(signal.SIGTERM)  # Lightning's stop before training began: not a success
        self._restore()

    def teardown(self, trainer, pl_module, stage):
        self._restore()


class EpochEndStop(Checkpoint):
    """Preemption's epoch-end check. A Checkpoint only for its place: Lightning runs checkpoint callbacks after all
    others at an epoch's end, in list order, so listed after the best-checkpoint callback and LastCheckpoint it
    stops the run once both have saved the epoch (last.ckpt then holds the epoch's best-checkpoint decision)."""

    def __init__(self, preemption: Preemption):
        self.preemption = preemption

    def on_train_epoch_end(self, trainer, pl_module):
        self.preemption.epoch_saved(trainer)
