"""Faults around a run folder: two trainings in one folder, links out of it, a full disk while saving a
checkpoint, a truncated last.ckpt."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest
import torch

from alexnet_repro.training import lock, resume
from alexnet_repro.training.callbacks import CheckpointWriteError
from alexnet_repro.training.links import outside_links
from alexnet_repro.training.run import train
from conftest import PYTHON, ROOT, compose_train, data_overrides

HOLD = r"""
import sys, time
from alexnet_repro.training import lock
with lock.hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_training_of_a_live_run_stops_in_one_line_naming_its_pid(tiny_data, tmp_path):
    """Both used to run: the second set the live first aside and the folder ended with a mix of their files."""
    run_dir = tmp_path / "seed0"
    holder = subprocess.Popen([PYTHON, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        args = [PYTHON, "src/train.py", *data_overrides(tiny_data), "trainer.max_epochs=1", "logger=none",
                f"hydra.run.dir={run_dir}"]
        second = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2
        assert second.stderr == f"error: {run_dir} is in use by PID {holder.pid}: wait for that training to end, " \
                                "or stop it (it resumes from its last checkpoint when started again)\n"
        assert sorted(p.name for p in run_dir.iterdir()) == [lock.LOCK]  # nothing else touched
    finally:
        holder.kill()
        holder.wait()
    # SIGKILL leaves no stale lock: the kernel released it with the process
    with lock.hold(run_dir):
        pass


def test_the_lock_is_taken_in_process_too_and_resume_ignores_and_keeps_it(tmp_path):
    run_dir = tmp_path / "seed0"
    with lock.hold(run_dir):
        with pytest.raises(lock.RunInUse, match=f"in use by PID {os.getpid()}"), lock.hold(run_dir):
            pass
        assert resume._inspect(run_dir, "x", code="") == ("fresh", "")  # the lock file alone is no run
        (run_dir / "train_summary.json").write_text("{}")
        resume.prepare(run_dir, {"a": 1})  # a finished run is set aside: the held lock stays in the folder
        assert (run_dir / lock.LOCK).exists()
        assert not (tmp_path / resume.REPLACED / "seed0-1" / lock.LOCK).exists()
        with pytest.raises(lock.RunInUse):
            with lock.hold(run_dir):
                pass


def test_no_link_in_a_run_folder_points_outside_it(tiny_data, tmp_path, monkeypatch):
    """W&B's logs/debug-core.log linked to ~/.cache/wandb, a file other W&B processes append to: DVC hashed it
    with the train stage's outputs and re-trained a finished run when it changed."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = compose_train(["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=1",
                         "logger.log_filters=false"])
    train(cfg, tmp_path / "run")
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*/logs/debug-core.log"))  # still there, as a file
    assert outside_links(tmp_path / "run") == []


def test_links_of_a_run_set_aside_become_copies(tmp_path):
    outside = tmp_path / "cache.log"
    outside.write_text("shared")
    run_dir = tmp_path / "exp" / "seed0"
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "logs" / "debug-core.log").symlink_to(outside)
    (run_dir / "logs" / "gone.log").symlink_to(tmp_path / "missing")
    (run_dir / "latest").symlink_to("logs")  # inside: kept
    (run_dir / "train_summary.json").write_text("{}")
    resume.prepare(run_dir, {"a": 1})
    kept = tmp_path / "exp" / resume.REPLACED / "seed0-1"
    assert (kept / "logs" / "debug-core.log").read_text() == "shared"
    assert not (kept / "logs" / "debug-core.log").is_symlink() and not (kept / "logs" / "gone.log").exists()
    assert (kept / "latest").is_symlink() and outside_links(kept) == []


def _full_disk_on_call(n: int, error: BaseException):
    real, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) == n:
            with open(f, "wb") as out:
                out.write(b"PK\x03\x04 half a checkpoint")  # what a full disk leaves in the temporary file
            raise error
        return real(obj, f, *args, **kwargs)

    return save


@pytest.mark.parametrize("error, message", [
    (OSError(errno.ENOSPC, "No space left on device"), "no space left on {folder} while writing last.ckpt"),
    (RuntimeError("basic_ios::clear: iostream error"), "{folder}/last.ckpt could not be written"),
])
def test_a_full_disk_while_saving_is_one_line_and_the_previous_checkpoint_stays(tiny_data, tmp_path, monkeypatch,
                                                                               error, message):
    """It was `RuntimeError: basic_ios::clear: iostream error`, a traceback naming no file."""
    run_dir = tmp_path / "run"
    cfg = compose_train(["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=1", "logger=none",
                         "trainer.ckpt_every_n_steps=2"])
    monkeypatch.setattr(torch, "save", _full_disk_on_call(2, error))  # the step-2 save worked, step 4's fails
    with pytest.raises(CheckpointWriteError) as failed:
        train(cfg, run_dir)
    folder = run_dir / "checkpoints"
    assert str(failed.value).startswith(message.format(folder=folder)) and "\n" not in str(failed.value)
    monkeypatch.undo()
    assert torch.load(folder / "last.ckpt", weights_only=True)["global_step"] == 2  # untouched and loadable
    assert [p.name for p in folder.iterdir()] == ["last.ckpt"]  # no temporary left


def test_a_truncated_last_checkpoint_is_one_line_with_the_ways_out(tiny_data, tmp_path):
    """A zip traceback from deep inside Lightning before."""
    run_dir = tmp_path / "run"
    base = [PYTHON, "src/train.py", *data_overrides(tiny_data), "logger=none", f"hydra.run.dir={run_dir}"]
    first = subprocess.run([*base, "trainer.max_epochs=1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    (run_dir / "train_summary.json").unlink()  # as if killed after the epoch's checkpoints
    last = run_dir / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    again = subprocess.run([*base, "trainer.max_epochs=1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2
    best = run_dir / "checkpoints" / "best.ckpt"
    assert again.stderr.startswith(f"error: {last} cannot be read (")
    assert again.stderr.endswith(f"): resume from the best epoch with ckpt_path={best}, or start over with "
                                 "fresh_start=true\n")
    assert again.stderr.count("\n") == 1
