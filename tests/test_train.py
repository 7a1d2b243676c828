"""Training: every experiment runs, the CLI as written, W&B offline, resume after a kill, DDP on 2 CPUs."""

import csv
import json
import subprocess

import pytest
import torch

from alexnet_repro.results import read_history
from alexnet_repro.training.run import train
from alexnet_repro.training.wandb_rows import FLUSH_INTERVAL_S
from conftest import CONF, PYTHON, ROOT, child_env, compose_train, data_overrides, offline_rows

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_runs_fast_dev_run(name, tiny_data, tmp_path):
    cfg = compose_train([f"+experiment={name}", "trainer.fast_dev_run=true", *data_overrides(tiny_data)])
    summary = train(cfg, tmp_path)
    assert summary["global_step"] == 1
    assert 0.0 <= summary["metrics"]["minival/err_top1"] <= 1.0


def test_cli_runs_no_lrn_exactly_as_written(tiny_data, tmp_path):
    args = [PYTHON, "src/train.py", "+experiment=no_lrn", *data_overrides(tiny_data), "trainer.max_epochs=1",
            "logger=none", f"hydra.run.dir={tmp_path}", "trainer.cpu_threads=1"]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["experiment"] == "no_lrn" and summary["epochs"] == 1
    assert summary["cpu_threads"] == 1  # trainer.cpu_threads: the rounding of a CPU run depends on it
    # Started again, it finds its finished run before importing torch or Lightning (what `dvc repro` does after
    # alexnet-matrix, once per train stage): "up to date" in about a second.
    again = subprocess.run([PYTHON, "-X", "importtime", *args[1:]], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0 and "up to date" in again.stdout + again.stderr, again.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in again.stderr.splitlines() if line.startswith("import time")}
    assert "alexnet_repro.training.run" in imported and not imported & {"torch", "lightning"}
    assert (tmp_path / "checkpoints" / "best.ckpt").exists() and (tmp_path / "checkpoints" / "last.ckpt").exists()
    saved = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)
    assert saved["hyper_parameters"]["model"]["lrn"]["enabled"] is False


def test_history_and_wandb_offline_run(tiny_data, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = compose_train(["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=2"])
    summary = train(cfg, tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    for key in ("train/loss", "train/err_top1", "minival/loss", "minival/err_top1", "minival/err_top5", "lr", "train/images_per_s"):
        assert rows[-1][key] != "", key
    assert float(rows[-1]["minival/err_top1"]) == pytest.approx(summary["metrics"]["minival/err_top1"])
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    wandb_file = next(runs[0].glob("*.wandb")).read_bytes()
    for key in (b"minival/err_top1", b"train/err_top1", b"conv1_filters", b"baseline"):
        assert key in wandb_file, key  # metrics, Figure 3's kernels and the group are in the offline run


def test_a_resumed_run_continues_the_same_wandb_run(tiny_data, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    base = ["+experiment=baseline", *data_overrides(tiny_data), "logger.log_filters=false"]
    train(compose_train([*base, "trainer.max_epochs=1"]), tmp_path)
    last = tmp_path / "checkpoints" / "last.ckpt"
    summary = train(compose_train([*base, "trainer.max_epochs=2", f"ckpt_path={last}"]), tmp_path)
    assert summary["epochs"] == 2
    # offline-run-<date_time>-<id>[-<n>]: W&B adds -<n> when both starts fall in the same second
    ids = {r.name.split("-")[3] for r in (tmp_path / "wandb").glob("offline-run-*")}
    assert ids == {(tmp_path / "wandb_id.txt").read_text()}  # one W&B run id: the resumed run continues it


KILLED_RUN = r"""
import os, signal, sys, time
import lightning as L
from hydra import compose, initialize_config_dir
from alexnet_repro.training.run import train

class KillAt(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == int(sys.argv[2]):
            time.sleep(float(os.environ.get("PAUSE_BEFORE_KILL_S", 0)))  # W&B's service writes its file meanwhile
            os.kill(os.getpid(), signal.SIGKILL)

with initialize_config_dir(config_dir=sys.argv[3], version_base="1.3"):
    cfg = compose(config_name="train", overrides=sys.argv[4:])
train(cfg, sys.argv[1], extra_callbacks=[KillAt()] if int(sys.argv[2]) else [])
"""


@pytest.mark.parametrize("every, kill_at, saved_at, workers", [
    (3, 11, 9, 0),  # mid-epoch 2, from a step checkpoint
    (3, 11, 9, 2),  # the same with loader workers, which iterate the sampler before Lightning counts the batch
    (100, 10, 7, 0),  # from the end of epoch 1
    (100, 10, 7, 2)])
def test_resume_after_a_kill_finishes_with_the_same_steps_and_weights(tiny_data, tmp_path, every, kill_at, saved_at,
                                                                      workers):
    overrides = ["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=2", "logger=none",
                 f"trainer.ckpt_every_n_steps={every}", "trainer.deterministic=true",
                 f"data.workers={workers}"]  # 7 steps/epoch, 14 in all

    def run(folder, kill_at, extra=()):
        return subprocess.run([PYTHON, "-c", KILLED_RUN, str(folder), str(kill_at), str(CONF), *overrides, *extra],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)

    killed = run(tmp_path / "killed", kill_at)
    assert killed.returncode == -9
    assert not (tmp_path / "killed" / "train_summary.json").exists()  # nothing looks finished
    ckpt = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=True)["global_step"] == saved_at
    resumed = run(tmp_path / "killed", 0, [f"ckpt_path={ckpt}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole = run(tmp_path / "whole", 0)
    assert whole.returncode == 0, whole.stderr[-3000:]
    a = json.loads((tmp_path / "killed" / "train_summary.json").read_text())
    b = json.loads((tmp_path / "whole" / "train_summary.json").read_text())
    assert a["global_step"] == b["global_step"] == 14  # 64 images less 8 held out as minival, batches of 8
    wa = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    wb = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    for key in (k for k in wb if k.startswith("net.")):
        torch.testing.assert_close(wa[key], wb[key], msg=key)  # same batches, same augmentation draws
    # The history reads as if the run had never stopped: same losses, errors and rates epoch by epoch
    # (epoch 2's training loss averages all its batches, not only those after the restart); wall time goes on.
    ha, hb = read_history(tmp_path / "killed" / "history.csv"), read_history(tmp_path / "whole" / "history.csv")
    for key in ("epoch", "step", "train/loss", "train/err_top1", "minival/loss", "minival/err_top1", "lr"):
        assert ha[key] == pytest.approx(hb[key], rel=1e-4), key
    assert ha["wall_s"][1] > ha["wall_s"][0] > 0 and all(v > 0 for v in ha["train/images_per_s"])


def test_a_killed_and_resumed_run_logs_each_wandb_row_once_in_order(tiny_data, tmp_path):
    """The restarted process opened a second offline W&B folder whose `_step` began at 0 again, and logged a
    second time the rows the killed one had logged after its last checkpoint (issue 24, item 5). Now the folders,
    read in start order, hold the rows of an uninterrupted run: the same keys at the same training steps, once
    each, `_step` rising by one from folder to folder."""
    overrides = ["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=2",
                 "trainer.ckpt_every_n_steps=3", "trainer.deterministic=true", "trainer.log_every_n_steps=2",
                 "logger.log_filters=false"]  # 7 steps an epoch; checkpoints at steps 3, 6, 7 (epoch end), 9, 12

    def run(folder, kill_at):
        pause = str(3 * FLUSH_INTERVAL_S)  # so that the killed process's rows reach its .wandb file
        return subprocess.run([PYTHON, "-c", KILLED_RUN, str(folder), str(kill_at), str(CONF), *overrides],
                              cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env=child_env(PAUSE_BEFORE_KILL_S=pause))

    assert run(tmp_path / "killed", 11).returncode == -9  # after step 11's rows; last.ckpt holds step 9
    resumed = run(tmp_path / "killed", 0)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole = run(tmp_path / "whole", 0)
    assert whole.returncode == 0, whole.stderr[-3000:]

    def shape(rows):
        return [(r["_step"], r.get("trainer/global_step"), sorted(k for k in r if not k.startswith("_")))
                for r in rows]

    first, second = offline_rows(tmp_path / "killed")
    # step 9's row was logged after step 9's checkpoint: the restart, which begins there, logged it again before
    assert 9 in [r["trainer/global_step"] for r in first]
    assert shape(first + second) == shape(offline_rows(tmp_path / "whole")[0])
    assert [r["_step"] for r in first + second] == list(range(len(first) + len(second)))


def test_resume_after_sigkill_keeps_the_lr_schedule(tiny_data, tmp_path):
    """A SIGKILL after an epoch's end (checkpoint written, then killed in the next epoch) over a schedule that
    acts: patience 0 divides the rate after the first epoch whose minival error does not improve. The resumed run
    must end with the weights, history and rates of an uninterrupted one (the plateau step of the checkpointed
    epoch was lost before: Lightning steps schedulers after on_train_epoch_end and skips that on a restart)."""
    overrides = ["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=6", "logger=none",
                 "trainer.ckpt_every_n_steps=1000", "trainer.deterministic=true", "optim.plateau_patience=0",
                 "optim.lr=0.05"]

    def run(folder, kill_at):
        return subprocess.run([PYTHON, "-c", KILLED_RUN, str(folder), str(kill_at), str(CONF), *overrides],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)

    whole = run(tmp_path / "whole", 0)
    assert whole.returncode == 0, whole.stderr[-3000:]
    hb = read_history(tmp_path / "whole" / "history.csv")
    assert len(set(hb["lr"])) > 1, hb["lr"]  # the schedule acted: a test of its resume, not of a constant rate
    for kill_at in (17, 31):  # in epoch 3, from epoch 2's end; then in epoch 5, from epoch 4's end
        killed = run(tmp_path / "killed", kill_at)
        assert killed.returncode == -9
    resumed = run(tmp_path / "killed", 0)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ha = read_history(tmp_path / "killed" / "history.csv")
    for key in ("epoch", "step", "train/loss", "train/err_top1", "minival/err_top1", "lr"):
        assert ha[key] == pytest.approx(hb[key], rel=1e-4), key
    wa = torch.load(tmp_path / "killed" / "model.pt", weights_only=True)["state_dict"]
    wb = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["state_dict"]
    for key in wb:
        torch.testing.assert_close(wa[key], wb[key], msg=key)


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tiny_data, tmp_path):
    env = child_env()
    args = [PYTHON, "src/train.py", "+experiment=baseline", "trainer=ddp2_cpu", *data_overrides(tiny_data),
            "trainer.max_epochs=2", f"hydra.run.dir={tmp_path}"]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in result.stdout + result.stderr
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    # 64 images less 8 of minival, global batch 8 = 4 per process: 7 steps per epoch, as on one device
    assert summary["global_step"] == 14
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 1  # one W&B run
    assert len(list(csv.DictReader(open(tmp_path / "history.csv")))) == 2
