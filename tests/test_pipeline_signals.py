"""SIGTERM to a training inside `dvc repro` (a user, an OOM daemon, SLURM ending the step): `dvc repro` fails,
and the next `dvc repro` resumes the run and ends with the uninterrupted run's weights and history. It used to
exit 0 without train_summary.json: DVC recorded the stage as done with a seed missing."""

import os
import signal
import subprocess
import time

import pytest
from test_pipeline import RUNS, assert_resumed_like_uninterrupted, repo, set_aside, sh  # noqa: F401  (repo: the fixture, a fresh copy of the repository)

from alexnet_repro.training.lock import LOCK
from conftest import child_env

pytestmark = pytest.mark.slow


def test_sigterm_to_a_training_inside_dvc_repro_fails_it_and_the_next_repro_resumes(repo):  # noqa: F811
    first = sh("dvc", "repro", "train@baseline-0", cwd=repo)  # with download, resize and pca before it
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    run = repo / RUNS / "baseline" / "seed0"
    replaced = set_aside(run)  # the uninterrupted run (started again as it is, it would be adopted, not trained)

    env = child_env()
    proc = subprocess.Popen(["dvc", "repro", "--force", "--single-item", "train@baseline-0"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not (replaced.exists() and (run / "checkpoints" / "last.ckpt").exists()):
        assert proc.poll() is None and time.monotonic() < deadline, "training ended before its first checkpoint"
        time.sleep(0.02)
    training = int((run / LOCK).read_text())  # the training's own PID, which holds the run folder's lock
    os.kill(training, signal.SIGTERM)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0, output[-3000:]
    assert "SIGTERM received at step" in output
    assert not (run / "train_summary.json").exists()

    again = sh("dvc", "repro", cwd=repo)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming from checkpoints/last.ckpt" in again.stdout + again.stderr
    assert_resumed_like_uninterrupted(run, replaced)
