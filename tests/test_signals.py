"""Preemption (training/signals.py): SIGTERM, SIGUSR1 and SIGUSR2 save last.ckpt, exit non-zero without the done
marker, and the run started again ends as an unsignalled run would, in the same W&B run with rising steps."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
import torch

from alexnet_repro.results import read_history
from conftest import CONF, PYTHON, ROOT, child_env, data_overrides, logged_steps

# argv: run folder, signal name, where ("step:<k>" after that step, "val:<epoch>" in that epoch's validation,
# "sanity" in the sanity check), "submitit" to install handlers standing in for submitit's (USR2 records the call
# and exits -1 as submitit does after requeueing; TERM records it and returns), then the overrides.
SIGNALLED_RUN = r"""
import os, signal, sys
from pathlib import Path
import lightning as L
from hydra import compose, initialize_config_dir
from alexnet_repro.training.run import train

run_dir, name, where, previous = sys.argv[1:5]
signum = getattr(signal, name) if name != "none" else None

class SendAt(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        if where == f"step:{trainer.global_step}":
            os.kill(os.getpid(), signum)
    def on_validation_batch_end(self, trainer, *args):
        if where == f"val:{trainer.current_epoch}" and not trainer.sanity_checking:
            os.kill(os.getpid(), signum)
        if where == "sanity" and trainer.sanity_checking:
            os.kill(os.getpid(), signum)

if previous == "submitit":
    def requeue(signum, frame):
        Path(run_dir, "requeued-by-submitit").write_text(signal.Signals(signum).name)
        sys.exit(-1)
    def bypass(signum, frame):  # submitit's SIGTERM handler: it logs and returns
        with open(Path(run_dir, "bypassed-by-submitit"), "a") as f:
            f.write(signal.Signals(signum).name + "\n")
    signal.signal(signal.SIGUSR2, requeue)
    signal.signal(signal.SIGTERM, bypass)

with initialize_config_dir(config_dir=sys.argv[5], version_base="1.3"):
    cfg = compose(config_name="train", overrides=sys.argv[6:])
train(cfg, run_dir, extra_callbacks=[SendAt()] if signum else [])
"""


def overrides(tiny_data, *extra):
    # 8 steps per epoch, 16 in all; no step checkpoints: only the signal's and the epochs' ends save
    return ["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=2", "trainer.ckpt_every_n_steps=100",
            "trainer.deterministic=true", "logger.log_filters=false", *extra]


def run(folder, tiny_data, name="none", where="", previous="", extra=(), env=None):
    args = [PYTHON, "-c", SIGNALLED_RUN, str(folder), name, where or "-", previous or "-", str(CONF),
            *overrides(tiny_data, *extra)]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


def wandb_env():
    return child_env()


def assert_same_run(a, b):
    wa = torch.load(a / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    wb = torch.load(b / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    for key in (k for k in wb if k.startswith("net.")):
        torch.testing.assert_close(wa[key], wb[key], msg=key)
    ha, hb = read_history(a / "history.csv"), read_history(b / "history.csv")
    for key in ("epoch", "step", "train/loss", "train/err_top1", "minival/loss", "minival/err_top1", "lr"):
        assert ha[key] == pytest.approx(hb[key], rel=1e-4), key


@pytest.mark.timeout(900)
def test_sigterm_mid_epoch_saves_exits_143_and_the_restart_ends_as_an_unsignalled_run(tiny_data, tmp_path):
    """Lightning's own handler exited 0 without a checkpoint or train_summary.json: DVC took it for success."""
    signalled, whole = tmp_path / "signalled", tmp_path / "whole"
    stopped = run(signalled, tiny_data, "SIGTERM", "step:11", env=wandb_env())
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert not (signalled / "train_summary.json").exists()
    # the signal came after step 11's hooks had run: the next batch boundary, step 12, is saved
    assert torch.load(signalled / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 12
    assert "SIGTERM received at step 12" in stopped.stderr

    resumed = run(signalled, tiny_data, env=wandb_env())  # no ckpt_path: the folder resumes itself
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert run(whole, tiny_data, env=wandb_env()).returncode == 0
    assert json.loads((signalled / "train_summary.json").read_text())["global_step"] == 14  # 7 steps an epoch
    assert_same_run(signalled, whole)
    # the resumed epoch's throughput counts from the restart (it counted from the machine's boot: 0.05 img/s)
    assert read_history(signalled / "history.csv")["train/images_per_s"][1] > 1.0

    # One W&B run continued: the same id in both offline runs, and the logged steps go on rising across them.
    ids = {r.name.split("-")[3] for r in (signalled / "wandb").glob("offline-run-*")}
    assert ids == {(signalled / "wandb_id.txt").read_text()}
    first, second = logged_steps(signalled)
    assert first and second and max(first) <= min(second)
    assert first + second == sorted(first + second)


@pytest.mark.timeout(600)
def test_sigusr1_requeues_through_scontrol_under_slurm_and_exits_138(tiny_data, tmp_path):
    """USR1 (SLURM's --signal, Lightning's auto-requeue signal) used to kill the process without a checkpoint."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'scontrol.log'}\n")
    scontrol.chmod(scontrol.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_ID": "4242"}
    stopped = run(tmp_path / "run", tiny_data, "SIGUSR1", "step:3", extra=["logger=none"], env=env)
    assert stopped.returncode == 138, stopped.stderr[-3000:]
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    assert not (tmp_path / "run" / "train_summary.json").exists()


@pytest.mark.timeout(600)
def test_sigusr2_during_validation_saves_the_epoch_then_hands_over_to_submitit(tiny_data, tmp_path):
    """submitit's USR2 handler requeues and exits; it must run only after last.ckpt holds the latest state."""
    folder = tmp_path / "run"
    stopped = run(folder, tiny_data, "SIGUSR2", "val:0", previous="submitit", extra=["logger=none"])
    assert stopped.returncode == 255, stopped.stderr[-3000:]  # submitit's sys.exit(-1)
    assert (folder / "requeued-by-submitit").read_text() == "SIGUSR2"
    # validation finished, the end of epoch 0 was saved, and training stopped there
    assert torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 7
    assert [int(e) for e in read_history(folder / "history.csv")["epoch"]] == [0]
    assert not (folder / "train_summary.json").exists()


@pytest.mark.timeout(300)
def test_sigterm_during_the_sanity_check_exits_143_not_0(tiny_data, tmp_path):
    """Before training starts Lightning's own handler is in place: its SIGTERMException exited 0."""
    stopped = run(tmp_path / "run", tiny_data, "SIGTERM", "sanity", extra=["logger=none"])
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert not (tmp_path / "run" / "train_summary.json").exists()
    assert not (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()  # nothing trained, nothing to save


@pytest.mark.timeout(300)
def test_sigterm_under_submitit_saves_then_leaves_the_decision_to_its_handler(tiny_data, tmp_path):
    """submitit only logs SIGTERM (some clusters send it before the preemption signal): the step is saved, its
    handler is called, and training goes on to the end."""
    folder = tmp_path / "run"
    done = run(folder, tiny_data, "SIGTERM", "step:3", previous="submitit", extra=["logger=none"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert (folder / "bypassed-by-submitit").read_text() == "SIGTERM\n"
    assert "SIGTERM received at step 4: " in done.stderr and "handing over" in done.stderr
    assert json.loads((folder / "train_summary.json").read_text())["global_step"] == 14
