"""`dvc repro` end to end on a tiny profile, in a fresh copy of the repository; then a no-op repro, and a
change to one experiment's config that reruns exactly that experiment and the report."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from alexnet_repro.results import read_history
from conftest import child_env, repository_copy

pytestmark = pytest.mark.slow
RUNS = Path("runs") / "embedded_tiny" / "tiny"  # runs/<dataset>/<profile>/<experiment>/seed<k>


def assert_resumed_like_uninterrupted(run: Path, whole: Path) -> None:
    """A resumed run's history and exported weights equal the uninterrupted run's."""
    resumed, uninterrupted = read_history(run / "history.csv"), read_history(whole / "history.csv")
    for key in ("step", "train/loss", "minival/err_top1", "lr"):
        assert resumed[key] == pytest.approx(uninterrupted[key], rel=1e-5), key
    a = torch.load(run / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(whole / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in b)


def set_aside(run: Path) -> Path:
    """Move a finished run to replaced/, as fresh_start=true would, so that the next start trains it again."""
    replaced = run.parent / "replaced" / f"{run.name}-1"
    replaced.parent.mkdir(parents=True, exist_ok=True)
    os.replace(run, replaced)
    return replaced


def sh(*args, cwd, timeout=1200):
    env = child_env()
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return repository_copy(tmp_path_factory.mktemp("repo") / "alexnet-repro", dict(
        dataset="embedded_tiny", profile="tiny", seeds=[0], experiments=["baseline", "tanh", "no_lrn"]))


def test_dvc_repro_end_to_end_then_nothing_to_do(repo):
    first = sh("dvc", "repro", cwd=repo)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for name in ("baseline", "tanh", "no_lrn"):
        metrics = json.loads((repo / "results" / name / "metrics.json").read_text())
        assert 0 <= metrics["ten_crop"]["err_top1"] <= 1
        assert list((repo / RUNS / name / "seed0" / "wandb").glob("offline-run-*"))
        assert list((repo / "results" / name / "wandb").glob("offline-run-*"))  # evaluate joins the group
    report = (repo / "reports" / "README.md").read_text()
    assert "no_lrn" in report and "Table 2" in report
    start = time.perf_counter()
    second = sh("dvc", "repro", cwd=repo)
    assert second.returncode == 0
    assert "Data and pipelines are up to date." in second.stdout
    assert time.perf_counter() - start < 30
    shown = sh("dvc", "metrics", "show", cwd=repo)
    assert "results/baseline/metrics.json" in shown.stdout


def test_editing_the_net_changes_no_data_stage(repo):
    """Issue 16: an edit to models/alexnet.py must not re-run the ImageNet resize and PCA."""
    net = repo / "src" / "alexnet_repro" / "models" / "alexnet.py"
    original = net.read_text()
    try:
        net.write_text(original + "\n# an edit\n")
        status = sh("dvc", "status", cwd=repo)
        assert status.returncode == 0, status.stderr
        changed = {line.strip().rstrip(":") for line in status.stdout.splitlines() if not line.startswith("\t")}
        assert "train@baseline-0" in changed  # the edit is seen...
        assert not changed & {"download", "resize", "pca"}, status.stdout  # ...by the stages that run the net only
    finally:
        net.write_text(original)


def test_changing_one_experiment_reruns_only_it_and_the_report(repo):
    path = repo / "conf" / "experiment" / "no_lrn.yaml"
    path.write_text(path.read_text() + "optim:\n  lr: 0.02\n")
    status = sh("dvc", "status", "--json", cwd=repo)
    assert set(json.loads(status.stdout)) == {"train@no_lrn-0"}
    again = sh("dvc", "repro", cwd=repo)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    ran = {line.split("'")[1] for line in again.stdout.splitlines() if line.startswith("Running stage")}
    assert ran == {"train@no_lrn-0", "evaluate@no_lrn", "report"}
    resolved = yaml.safe_load((repo / RUNS / "no_lrn" / "seed0" / "resolved_config.yaml").read_text())
    assert resolved["optim"]["lr"] == 0.02


def test_killing_dvc_repro_mid_training_resumes_from_the_checkpoint(repo):
    """SIGKILL `dvc repro` (and its training) after the first checkpoint; the next `dvc repro` resumes the run
    from it and ends with the history and weights of the uninterrupted run (test 1's, now in replaced/)."""
    run = repo / RUNS / "baseline" / "seed0"
    assert sh("dvc", "repro", "train@baseline-0", cwd=repo).returncode == 0  # a finished run (up to date after test 1)
    replaced = set_aside(run)  # started again as it is, it would be adopted, not trained
    env = child_env()
    proc = subprocess.Popen(["dvc", "repro", "--force", "--single-item", "train@baseline-0"], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (replaced.exists() and (run / "checkpoints" / "last.ckpt").exists()):
        assert proc.poll() is None and time.monotonic() < deadline, "training ended before its first checkpoint"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "train_summary.json").exists()  # nothing half-done looks finished
    again = sh("dvc", "repro", cwd=repo)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming from checkpoints/last.ckpt" in again.stdout + again.stderr
    assert_resumed_like_uninterrupted(run, replaced)


def test_a_train_stage_runs_ddp_on_two_cpu_processes_through_dvc(repo):
    """A matrix job is a plain `python src/train.py ...`, so DDP can relaunch it: trainer=ddp2_cpu in
    params.yaml makes train@baseline-0 two gloo processes under `dvc repro`."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    (repo / "params.yaml").write_text(yaml.safe_dump({**params, "trainer": "ddp2_cpu"}))
    result = sh("dvc", "repro", "--single-item", "train@baseline-0", cwd=repo)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in result.stdout + result.stderr
    summary = json.loads((repo / RUNS / "baseline" / "seed0" / "train_summary.json").read_text())
    assert summary["global_step"] == 8  # the global batch is split over the two processes: the same steps
