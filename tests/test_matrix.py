"""`alexnet-matrix`: the train matrix in parallel, each job on its own GPUs, then `dvc repro`, which adopts the
finished runs. And issue 16's acceptance for adoption: runs trained by hand, outside DVC, are not trained again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from alexnet_repro.basics import ConfigError
from alexnet_repro.matrix.cli import main
from alexnet_repro.matrix.local import run_here, slots
from alexnet_repro.matrix.plan import Job, compose_jobs, gpus_per_run
from conftest import PYTHON, ROOT, child_env, repository_copy

RUNS = Path("runs") / "embedded_tiny" / "tiny"
TINY = {"dataset": "embedded_tiny", "profile": "tiny", "seeds": [0, 1], "experiments": ["baseline"]}


def make_repo(work: Path, **params) -> Path:
    """A repository copy with params.yaml's values for the tiny dataset and profile; the tiny profile trains one
    epoch."""
    def one_epoch(root: Path) -> None:
        profile = root / "conf" / "profile" / "tiny.yaml"
        profile.write_text(profile.read_text().replace("max_epochs: 2", "max_epochs: 1"))

    return repository_copy(work, {**TINY, **params}, edit=one_epoch)


def sh(*args, cwd, timeout=1500, env=None):
    env = child_env(PYTHONPATH=str(ROOT / "src"), **(env or {}))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


# --- (a) slots --------------------------------------------------------------------------------------------------

def test_slots_split_the_gpus_into_groups_of_the_devices_a_training_takes():
    eight = [str(i) for i in range(8)]
    assert slots(eight, 2) == ["0,1", "2,3", "4,5", "6,7"]  # 8 GPUs, trainer=ddp2: 4 jobs
    assert slots(eight, 1) == eight
    assert slots(eight, 2, jobs=2) == ["0,1", "2,3"]
    assert slots(eight, 3) == ["0,1,2", "3,4,5"]  # the two left over stay idle rather than split a run
    assert slots(["3", "5", "6", "7"], 2) == ["3,5", "6,7"]  # CUDA_VISIBLE_DEVICES's ids are kept
    assert slots([], 0) == [None]  # CPU: one at a time unless asked
    assert slots(eight, 0, jobs=2) == [None, None]  # CPU trainings on a GPU node: no GPU slot


def test_impossible_slots_say_what_fits():
    with pytest.raises(ConfigError, match="--jobs 5 needs 10 GPUs .* at most --jobs 4"):
        slots([str(i) for i in range(8)], 2, jobs=5)
    with pytest.raises(ConfigError, match="takes 2 GPUs .* this node has 1"):
        slots(["0"], 2)
    with pytest.raises(ConfigError, match="--jobs 0"):
        slots([], 0, jobs=0)


def test_gpus_per_run_reads_accelerator_and_devices_as_lightning_does():
    assert gpus_per_run("gpu", 2, 8) == 2
    assert gpus_per_run("gpu", -1, 8) == 8 and gpus_per_run("gpu", "auto", 8) == 8
    assert gpus_per_run("gpu", [0, 1, 2], 8) == 3 and gpus_per_run("cuda", "0,1", 8) == 2
    assert gpus_per_run("auto", 1, 8) == 1 and gpus_per_run("auto", 1, 0) == 0
    assert gpus_per_run("cpu", 2, 8) == 0


def test_a_jobs_size_comes_from_its_trainer_preset():
    cmd = "python src/train.py +experiment=baseline seed=0 data=embedded_tiny profile=tiny trainer={}"
    jobs = compose_jobs(ROOT, [(t, cmd.format(t)) for t in ("ddp2", "ddp2_cpu", "gpu", "default")], visible=8)
    assert [(j.gpus, j.processes) for j in jobs] == [(2, 2), (0, 2), (1, 1), (1, 1)]
    assert compose_jobs(ROOT, [("default", cmd.format("default"))], visible=0)[0].gpus == 0
    with pytest.raises(ConfigError, match="stage bad: .*dropuot"):
        compose_jobs(ROOT, [("bad", cmd.format("default") + " model.dropuot=0.5")], visible=0)


# --- the runner ---------------------------------------------------------------------------------------------------

def rendezvous(me: str, other: str) -> str:
    """A job that ends only when the other one has started too: both finish only if they run at once."""
    code = (f"import os, pathlib, time; pathlib.Path('{me}').touch(); print(os.environ.get('CUDA_VISIBLE_DEVICES')); "
            f"end = time.time() + 60\nwhile not pathlib.Path('{other}').exists():\n"
            f"    assert time.time() < end, 'ran alone'; time.sleep(0.05)")
    return f"{sys.executable} -c \"{code}\""


def test_jobs_run_at_once_each_in_its_slot_and_a_failure_is_one_line_naming_its_log(tmp_path, capsys):
    jobs = [Job("train@a-0", rendezvous("a", "b"), 1, 1, 1), Job("train@b-0", rendezvous("b", "a"), 1, 1, 1),
            Job("train@c-0", f"{sys.executable} -c 'import sys; print(\"boom\"); sys.exit(3)'", 1, 1, 1)]
    failed = run_here(tmp_path, jobs, ["0,1", "2,3"], tmp_path / "logs")
    assert failed == [jobs[2]]
    logs = {j.stage: (tmp_path / "logs" / f"{j.stage}.log").read_text().strip() for j in jobs}
    assert {logs["train@a-0"], logs["train@b-0"]} == {"0,1", "2,3"}  # two slots, one each
    assert logs["train@c-0"] == "boom"
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.startswith(f"[{i}/3] ") for i, line in enumerate(lines, 1))
    (failure,) = [line for line in lines if "FAILED" in line]
    assert "train@c-0 FAILED (exit 3)" in failure and failure.endswith("logs/train@c-0.log")


def test_cpu_slots_are_workers_that_run_jobs_inside_themselves_in_the_order_their_inputs_allow(tmp_path, capsys):
    """Without GPUs each slot is one stage_worker.py process: jobs run as `__main__` inside it (one process for
    several jobs), output in the job's log; a job waits for the ones it reads, and is not run when one failed."""
    for name, body in (("ok", "print('hello', sys.argv[1:])"), ("fail", "print('boom'); sys.exit(3)")):
        (tmp_path / f"{name}.py").write_text(f"import os, sys\nopen(sys.argv[1] + '.pid', 'w').write(str(os.getpid()))\n"
                                             f"{body}\n")
    jobs = [Job("train@a-0", "python ok.py a0 x=1", 0, 1, 1), Job("train@b-0", "python fail.py b0", 0, 1, 1),
            Job("evaluate@b", "python ok.py eb", 0, 1, 1, after=("train@b-0",)),
            Job("evaluate@a", "python ok.py ea", 0, 1, 1, after=("train@a-0",)),
            Job("train@c-0", "python ok.py c0", 0, 1, 1)]
    failed = run_here(tmp_path, jobs, [None, None], tmp_path / "logs")
    assert [j.stage for j in failed] == ["train@b-0", "evaluate@b"]
    assert (tmp_path / "logs" / "train@a-0.log").read_text() == "hello ['a0', 'x=1']\n"
    assert not (tmp_path / "eb.pid").exists()  # never started: what it reads failed
    pids = {(tmp_path / f"{k}.pid").read_text() for k in ("a0", "b0", "ea", "c0")}
    assert len(pids) == 2  # four jobs, two worker processes
    out = capsys.readouterr().out
    assert "evaluate@b not run: it needs train@b-0" in out and "train@b-0 FAILED (exit 3)" in out


def test_a_worker_killed_inside_a_job_fails_that_job_and_the_next_gets_a_new_worker(tmp_path, capsys):
    """An OOM kill of a CPU slot's worker: its job fails with the signal's code, the slot starts a new worker."""
    (tmp_path / "die.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    (tmp_path / "ok.py").write_text("import os\nopen('after.pid', 'w').write(str(os.getpid()))\n")
    jobs = [Job("train@a-0", "python die.py", 0, 1, 1), Job("train@b-0", "python ok.py", 0, 1, 1)]
    failed = run_here(tmp_path, jobs, [None], tmp_path / "logs")
    assert failed == [jobs[0]] and (tmp_path / "after.pid").exists()
    assert "train@a-0 FAILED (exit -9)" in capsys.readouterr().out


# --- (b) the plan: DVC's own commands ---------------------------------------------------------------------------------

def plan(repo: Path, monkeypatch, capsys, *args) -> list[str]:
    monkeypatch.chdir(repo)
    assert main(["--dry-run", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_dry_run_lists_exactly_dvcs_training_commands_and_the_slots(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path)
    lines = plan(repo, monkeypatch, capsys, "--jobs", "2")
    tail = "data=embedded_tiny profile=tiny trainer=default trainer.enable_progress_bar=false"
    expected = {f"train@baseline-{k}": f"python src/train.py +experiment=baseline seed={k} {tail}" for k in (0, 1)}
    jobs = dict(line.split(": ", 1) for line in lines if line.startswith("train@"))
    assert jobs == expected
    data = lines[0].removeprefix("first, the data stages that changed: ").split()
    assert sorted(data) == sorted(["download", "resize", "pca", "download_cifar", "resize_cifar", "pca_cifar"])
    assert lines[-1] == "then: dvc repro"
    assert "figure1_cifar@relu: python src/figure1.py activation=relu data=cifar10_embedded_tiny" in lines
    assert [line for line in lines if line.strip().startswith("slot")] == [
        "  slot 0: CUDA_VISIBLE_DEVICES=(unchanged: CPU)", "  slot 1: CUDA_VISIBLE_DEVICES=(unchanged: CPU)"]
    assert not (repo / "logs").exists() and not (repo / "runs").exists() and not (repo / "data").exists()


@pytest.mark.parametrize("lock", [
    "schema: '2.0'\nstages:\n  download:\n    params:\n      params.yaml:\n        dataset: x\n      work",  # cut mid-key
    "schema: '2.0'\nstages:\n  download:\n    cmd: [",  # not YAML at all
    "schema: '2.0'\nstages:\n  download:\n    cmd: x\n    outs: 7\n",  # YAML, but not a lock file
])
def test_a_dvc_lock_cut_short_is_one_line_naming_it_and_the_way_out(tmp_path, lock):
    repo = make_repo(tmp_path)
    (repo / "dvc.lock").write_text(lock)
    result = sh(PYTHON, "-m", "alexnet_repro.matrix", "--dry-run", cwd=repo, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "dvc.lock" in lines[0], result.stderr[-2000:]
    assert "git checkout dvc.lock" in lines[0]


def test_a_second_matrix_in_the_same_repository_stops_in_one_line_naming_the_first(tmp_path):
    """Two at once overwrote each other's logs/matrix/<stage>.log and raced for the same runs (issue 24)."""
    from alexnet_repro.matrix.plan import LOG_DIR
    from alexnet_repro.training import lock

    repo = make_repo(tmp_path)
    with lock.hold(repo / LOG_DIR):  # as the first matrix holds it, from this process
        second = sh(PYTHON, "-m", "alexnet_repro.matrix", "--no-repro", cwd=repo, timeout=300)
    assert second.returncode == 2, second.stderr[-2000:]
    assert second.stderr == (f"error: another alexnet-matrix (PID {os.getpid()}) is running in this repository "
                             f"({repo.resolve() / LOG_DIR} is its): wait for it to end, or stop it (its finished "
                             "runs are kept and a killed one resumes)\n")
    assert not list((repo / LOG_DIR).glob("*.log")) and not (repo / RUNS).exists()


def test_dry_run_under_slurm_sizes_each_job_by_the_trainer_preset(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path, trainer="ddp2")
    lines = plan(repo, monkeypatch, capsys, "--slurm", "--no-repro")
    settings = next(line for line in lines if "submitit jobs; settings:" in line)
    # 2 AlexNet trainings, Figure 1's two four-layer-net stages and section 3.3's three nets (one process each)
    assert settings.startswith("7 submitit jobs") and "slurm_signal_delay_s=" in settings  # slurm.yaml's
    arrays = [line for line in lines if line.startswith("  an array of")]
    assert sorted(arrays) == [
        "  an array of 2: gpus_per_node=2 tasks_per_node=2 nodes=1: train@baseline-0 train@baseline-1",
        "  an array of 5: gpus_per_node=1 tasks_per_node=1 nodes=1: figure1_cifar@relu figure1_cifar@tanh "
        "lrn_cifar@layers-conv-local-13pct lrn_cifar@layers-conv-local-11pct lrn_cifar@layers-conv-local-11pct-no-rnorm"]
    assert "train@baseline-1: python src/train.py +experiment=baseline seed=1" in "\n".join(lines)
    assert lines[-1] == "then: nothing (--no-repro)"


# --- (c) and (d): end to end, slow --------------------------------------------------------------------------------

def trained_nothing(repro_output: str, stages: list[str]) -> None:
    """Every one of `stages` ran under this `dvc repro` and adopted its finished run."""
    blocks = repro_output.split("Running stage '")[1:]
    ran = {block.split("'")[0]: block for block in blocks}
    for stage in stages:
        assert stage in ran, f"{stage} did not run"
        assert "up to date (a finished run" in ran[stage], f"{stage} trained again:\n{ran[stage][-2000:]}"


def finished_and_reported(repo: Path) -> None:
    assert not list((repo / RUNS).glob("*/replaced"))  # no run was set aside and trained again
    assert (repo / "results" / "baseline" / "metrics.json").is_file()
    assert (repo / "reports" / "README.md").is_file()
    again = sh("dvc", "status", cwd=repo)
    assert "Data and pipelines are up to date." in again.stdout, again.stdout


@pytest.mark.slow
def test_the_matrix_trains_two_at_a_time_then_dvc_repro_adopts_every_run(tmp_path):
    repo = make_repo(tmp_path)
    result = sh(sys.executable, "-m", "alexnet_repro.matrix", "--jobs", "2", cwd=repo)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-5000:]
    # 2 AlexNet trainings, Figure 1's two four-layer-net stages, section 3.3's three nets, 1 evaluation
    assert "7 trainings and 1 evaluation to run, 2 at a time" in out and "[8/8] " in out
    for stage in ("train@baseline-0", "train@baseline-1"):
        assert "`Trainer.fit` stopped: `max_epochs=1` reached." in (repo / "logs" / "matrix" / f"{stage}.log").read_text()
    # on a CPU each slot is one worker process that ran its jobs inside itself (stage_worker.py); an evaluation
    # started only once its experiment's trainings had finished
    assert sorted(p.name for p in (repo / "logs" / "matrix").glob("worker*.log")) == ["worker0.log", "worker1.log"]
    evaluated = (repo / "results" / "baseline" / "metrics.json").stat().st_mtime
    assert evaluated > max((repo / RUNS / "baseline" / f"seed{k}" / "train_summary.json").stat().st_mtime for k in (0, 1))
    # a job that ran after others in the same worker (the CIFAR stages come first) computed what a process of its
    # own computes
    import torch

    alone = sh(sys.executable, "src/train.py", "+experiment=baseline", "experiment_name=alone", "seed=1",
               "data=embedded_tiny", "profile=tiny", "logger=none", "trainer.enable_progress_bar=false", cwd=repo,
               env={"OMP_NUM_THREADS": "1"})
    assert alone.returncode == 0, alone.stderr[-3000:]
    weights = [torch.load(repo / RUNS / name / "seed1" / "model.pt", weights_only=True)["state_dict"]
               for name in ("baseline", "alone")]
    assert weights[0].keys() == weights[1].keys() and all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    # the first two jobs trained at the same time: each started (run_config.json) before the other ended
    (start0, end0), (start1, end1) = [[(repo / RUNS / "baseline" / f"seed{k}" / name).stat().st_mtime
                                       for name in ("run_config.json", "train_summary.json")] for k in (0, 1)]
    assert start0 < end1 and start1 < end0
    # each job's command ran once more and adopted its result; DVC recorded all eight in one write, so the
    # `dvc repro` that follows runs only the report
    assert "recorded 8 of 8 jobs in dvc.lock" in out
    for stage in ("train@baseline-0", "evaluate@baseline"):
        assert "up to date" in (repo / "logs" / "matrix" / "confirm" / f"{stage}.log").read_text()
    # both data chains first, side by side in the workers, recorded in one write too
    assert "6 data stages to run, 2 at a time:" in out
    for stage in ("download", "resize", "pca", "download_cifar", "resize_cifar", "pca_cifar"):
        assert f"] {stage} done in" in out, stage
    ran = [block.split("'")[0] for block in out.split("Running stage '")[1:]]
    assert ran == ["report"], ran
    finished_and_reported(repo)


@pytest.mark.slow
def test_runs_trained_by_hand_outside_dvc_are_adopted_by_dvc_repro(tmp_path):
    """Issue 16, item 2's acceptance: train two seeds by hand, then `dvc repro` trains nothing for them."""
    repo = make_repo(tmp_path)
    assert sh("dvc", "repro", "pca", cwd=repo).returncode == 0
    for seed in (0, 1):  # the stage's command, typed by hand
        by_hand = sh(sys.executable, "src/train.py", "+experiment=baseline", f"seed={seed}", "data=embedded_tiny",
                     "profile=tiny", "trainer=default", "trainer.enable_progress_bar=false", cwd=repo)
        assert by_hand.returncode == 0, by_hand.stdout[-3000:] + by_hand.stderr[-3000:]
    assert (repo / RUNS / "baseline" / "seed1" / "train_summary.json").is_file()
    result = sh("dvc", "repro", cwd=repo)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-5000:]
    trained_nothing(out, ["train@baseline-0", "train@baseline-1"])
    finished_and_reported(repo)


# --- the submitit path: submitit's local executor, and SLURM's scripts through a stand-in sbatch ------------------

def test_submitted_jobs_run_the_stage_command_inside_the_job_and_a_failure_names_its_log(tmp_path, capsys):
    """Each stage is one submitit job that runs `python <script> <overrides>` in the job's own process (so the
    training's signal handling hands over to submitit's); a non-zero exit fails that job only."""
    from alexnet_repro.matrix.slurm import submit_and_wait

    (tmp_path / "conf").symlink_to(ROOT / "conf")  # the launcher's settings: conf/hydra/launcher/
    (tmp_path / "job.py").write_text("import sys, pathlib\npathlib.Path(sys.argv[1]).write_text(' '.join(sys.argv))\n"
                                     "sys.exit(int(sys.argv[2]))\n")
    jobs = [Job("train@ok-0", "python job.py ok.txt 0", 0, 1, 1), Job("train@bad-0", "python job.py bad.txt 3", 0, 1, 1)]
    failed = submit_and_wait(tmp_path, jobs, "submitit_local", tmp_path / "logs")
    assert failed == [jobs[1]]
    assert (tmp_path / "ok.txt").read_text() == "job.py ok.txt 0" and (tmp_path / "bad.txt").exists()
    out = capsys.readouterr().out
    assert "train@ok-0 done" in out
    (failure,) = [line for line in out.splitlines() if "FAILED" in line]
    assert "train@bad-0" in failure and "exited with code 3" in failure and str(tmp_path / "logs" / "submitit") in failure



def test_slurm_gets_an_array_per_job_size_and_dvc_repro_as_a_job_after_them(tmp_path, monkeypatch, capsys):
    """Under --slurm the trainings go as job arrays (one per size, at most slurm.yaml's array_parallelism tasks at
    once) and `dvc repro` as a job that SLURM starts once they all succeed; nothing waits. submitit writes the real
    sbatch scripts; a stand-in `sbatch` keeps them and answers as SLURM's does."""
    from alexnet_repro.matrix.slurm import submit_arrays

    tools, scripts = tmp_path / "bin", tmp_path / "scripts"
    tools.mkdir(), scripts.mkdir()
    (tools / "srun").write_text("#!/bin/sh\nexit 0\n")
    (tools / "sbatch").write_text('#!/bin/sh\nn=$((100 + $(ls "$SCRIPTS" | wc -l)))\ncp "$1" "$SCRIPTS/$n.sh"\n'
                                  'echo "Submitted batch job $n"\n')
    for tool in tools.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SCRIPTS", str(scripts))
    (tmp_path / "conf").symlink_to(ROOT / "conf")
    trainings = [Job(f"train@baseline-{s}", f"python src/train.py +experiment=baseline seed={s}", 2, 2, 1)
                 for s in range(10)]
    cifar = Job("figure1_cifar@relu", "python src/figure1.py activation=relu", 1, 1, 1)

    ids = submit_arrays(tmp_path, [*trainings, cifar], "slurm", tmp_path / "logs", repro=True)

    assert ids == ["100", "101", "102"]
    ddp, lone, repro = ((scripts / f"{i}.sh").read_text().splitlines() for i in ids)
    assert {"#SBATCH --array=0-9%8", "#SBATCH --gpus-per-node=2", "#SBATCH --ntasks-per-node=2"} <= set(ddp)
    assert "#SBATCH --gpus-per-node=1" in lone and not any(line.startswith("#SBATCH --array") for line in lone)
    assert {"#SBATCH --dependency=afterok:100:101", "#SBATCH --kill-on-invalid-dep=yes",
            "#SBATCH --gpus-per-node=1"} <= set(repro)
    assert not any("dependency" in line for line in ddp + lone)
    out = capsys.readouterr().out
    assert "train@baseline-9: SLURM job 100_9" in out and "figure1_cifar@relu: SLURM job 101" in out
    assert "dvc repro: SLURM job 102, after jobs 100, 101 all succeed (afterok)" in out

PARENT_OF_A_WORKER = r"""
import json, os, subprocess, sys, time
read_fd, write_fd = os.pipe()
worker = subprocess.Popen([sys.executable, "-m", "alexnet_repro.stage_worker", str(write_fd)], stdin=subprocess.PIPE,
                          pass_fds=(write_fd,), text=True)
worker.stdin.write(json.dumps({"stage": "busy", "cmd": f"python {sys.argv[1]}", "log": sys.argv[2]}) + chr(10))
worker.stdin.flush()
print(worker.pid, flush=True)
time.sleep(600)
"""


def test_a_worker_does_not_outlive_a_sigkilled_matrix(tmp_path):
    """SIGKILL to alexnet-matrix (an OOM killer, a scheduler) left both workers running with PPID 1, training into
    the next run's logs; a worker now stops within a few seconds of its parent's death."""
    import signal
    import time

    busy = tmp_path / "busy.py"  # a job that takes long: the worker is inside it, not reading its input
    busy.write_text("import time\ntime.sleep(600)\n")
    parent = subprocess.Popen([PYTHON, "-c", PARENT_OF_A_WORKER, str(busy), str(tmp_path / "busy.log")],
                              stdout=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT)
    worker = int(parent.stdout.readline())
    time.sleep(3)  # the worker is up and inside its job
    os.kill(worker, 0)  # alive while its parent lives
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _running(worker):
        time.sleep(0.2)
    if _running(worker):
        os.kill(worker, signal.SIGKILL)
        raise AssertionError(f"worker {worker} outlived its SIGKILLed parent by 20 s")


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for whichever process adopted it to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False
