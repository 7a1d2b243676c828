"""Running the jobs through submitit, with a conf/hydra/launcher/<name>.yaml's settings.

On SLURM, as clusters expect it: the stages of one size (GPUs, tasks, nodes) go as one job array, at most
`array_parallelism` tasks of it at once (slurm.yaml), and `dvc repro` as a job of its own that SLURM starts once
every array has succeeded (`--dependency=afterok:...`, cancelled if one fails: `--kill-on-invalid-dep=yes`); the
command then exits, so nothing waits on the login node. With submitit's local executor (`--launcher
submitit_local`), the jobs run on this machine and the command waits for them."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

from alexnet_repro.basics import ConfigError
from alexnet_repro.matrix.plan import Job, script_and_overrides


class StageJob:
    """What a submitit job runs: the stage's `python <script> <overrides>`, in this Python process, so that the
    training's signal handling hands over to submitit's (save, then requeue), as under Hydra's submitit launcher."""

    def __init__(self, stage: str, cmd: str, root: str):
        self.stage, self.cmd, self.root = stage, cmd, root

    def __call__(self) -> str:
        script, overrides = script_and_overrides(self.stage, self.cmd)
        os.chdir(self.root)
        sys.argv = [script, *overrides]
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as done:
            if done.code == -1:  # submitit's handler after a preemption signal: the job is requeued; let it exit
                raise
            if done.code not in (0, None):
                raise RuntimeError(f"{self.stage}: `{self.cmd}` exited with code {done.code}") from None
        return self.stage

    def checkpoint(self):  # submitit calls it on preemption or time-out: requeue the same command (it resumes)
        import submitit

        return submitit.helpers.DelayedSubmission(self)


class ReproJob:
    """The job after the arrays: `dvc repro` in the repository, which adopts each finished run (training/run.py),
    then evaluates and reports."""

    def __init__(self, root: str):
        self.root = root

    def __call__(self) -> str:
        code = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=self.root).returncode
        if code != 0:
            raise RuntimeError(f"`dvc repro` exited with code {code}")
        return "dvc repro"


def launcher_parameters(root: Path, launcher: str, log_dir: Path) -> tuple[str, dict, dict]:
    """(submitit cluster, executor init parameters, job parameters) from conf/hydra/launcher/<launcher>.yaml,
    translated as Hydra's submitit launcher translates them."""
    from hydra import compose, initialize_config_dir
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    import alexnet_repro.training.config  # noqa: F401  (registers the train schema)

    with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    conf = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    target = conf.pop("_target_", "")
    cluster = "slurm" if target.endswith("SlurmLauncher") else "local" if target.endswith("LocalLauncher") else None
    if cluster is None:
        raise ConfigError(f"hydra/launcher={launcher} is not a submitit launcher ({target})")
    conf.pop("submitit_folder", None)  # ours: logs/matrix/submitit
    conf.pop("name", None)  # ours: the stage (local) or the array's size (SLURM)
    init = {"folder": str(log_dir / "submitit" / "%j")}
    if "max_num_timeout" in conf:
        init[f"{cluster}_max_num_timeout"] = conf.pop("max_num_timeout")
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    params = {k if k in base else f"{cluster}_{k}": v for k, v in conf.items()}
    return cluster, init, params


def job_parameters(params: dict, job: Job) -> dict:
    """The launcher's settings with the job's own size: its GPUs, one task per device (DDP), its nodes."""
    return {**params, "gpus_per_node": job.gpus, "tasks_per_node": job.processes, "nodes": job.nodes}


def by_size(jobs: list[Job]) -> dict[tuple[int, int, int], list[Job]]:
    """The jobs grouped by what SLURM allocates for each (an array's tasks all get the same), in plan order."""
    groups: dict[tuple[int, int, int], list[Job]] = {}
    for job in jobs:
        groups.setdefault((job.gpus, job.processes, job.nodes), []).append(job)
    return groups


def _error_line(text: str) -> str:
    """The line that says what went wrong in submitit's report of a failed job (a traceback and log paths)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception): ", line)]
    return (errors or lines or [""])[-1]


def _executor(root: Path, launcher: str, log_dir: Path):
    import submitit

    cluster, init, params = launcher_parameters(root, launcher, log_dir)
    return cluster, submitit.AutoExecutor(cluster=cluster, **init), params


def submit_arrays(root: Path, jobs: list[Job], launcher: str, log_dir: Path, repro: bool) -> list[str]:
    """SLURM: one job array per size of job, then (repro) `dvc repro` as a job that waits for them all; returns
    the job ids submitted, the repro job's last. Nothing waits here."""
    cluster, executor, params = _executor(root, launcher, log_dir)
    if cluster != "slurm":
        raise ConfigError(f"hydra/launcher={launcher} does not submit to SLURM (its cluster is {cluster})")
    arrays = []
    for (gpus, _, nodes), group in by_size(jobs).items():
        executor.update_parameters(**job_parameters(params, group[0]), name=f"alexnet-train-{gpus}gpu-{nodes}node")
        with executor.batch():
            handles = [executor.submit(StageJob(job.stage, job.cmd, str(root))) for job in group]
        arrays.append(handles[0].job_id.split("_")[0])  # a task's id is <array>_<index>; a lone job's has none
        for job, handle in zip(group, handles):
            print(f"{job.stage}: SLURM job {handle.job_id}; log {handle.paths.stdout}", flush=True)
    if not repro:
        return arrays
    # dvc repro evaluates the runs: one GPU if the trainings had any
    size = Job("dvc repro", "", min(1, max((j.gpus for j in jobs), default=0)), 1, 1)
    settings = job_parameters(params, size)
    if arrays:  # SLURM cancels it when an array fails, rather than leaving it pending forever
        settings["slurm_dependency"] = f"afterok:{':'.join(arrays)}"
        settings["slurm_additional_parameters"] = {**settings.get("slurm_additional_parameters", {}),
                                                   "kill_on_invalid_dep": "yes"}
    executor.update_parameters(**settings, name="alexnet-dvc-repro")
    handle = executor.submit(ReproJob(str(root)))
    print(f"dvc repro: SLURM job {handle.job_id}" + (f", after jobs {', '.join(arrays)} all succeed (afterok)"
                                                   if arrays else "") + f"; log {handle.paths.stdout}", flush=True)
    return [*arrays, handle.job_id]


def submit_and_wait(root: Path, jobs: list[Job], launcher: str, log_dir: Path) -> list[Job]:
    """Submitit's jobs on this machine (a local launcher), one per stage; waits for all of them; returns the ones
    that failed."""
    import submitit

    cluster, executor, params = _executor(root, launcher, log_dir)
    submitted = []
    for job in jobs:
        executor.update_parameters(**job_parameters(params, job), name=job.stage)
        handle = executor.submit(StageJob(job.stage, job.cmd, str(root)))
        print(f"{job.stage}: submitted as job {handle.job_id}; log {handle.paths.stdout}", flush=True)
        submitted.append((job, handle))
    failed = []
    by_handle = {id(handle): job for job, handle in submitted}
    for done, handle in enumerate(submitit.helpers.as_completed([h for _, h in submitted], poll_frequency=1), 1):
        job = by_handle[id(handle)]
        try:
            handle.result()
            print(f"[{done}/{len(jobs)}] {job.stage} done (job {handle.job_id})", flush=True)
        except Exception as err:  # submitit re-raises the job's error, or says it ended without a result
            failed.append(job)
            message = _error_line(str(err)) or type(err).__name__
            print(f"[{done}/{len(jobs)}] {job.stage} FAILED (job {handle.job_id}): {message}; see "
                  f"{handle.paths.stdout}", flush=True)
    return failed
