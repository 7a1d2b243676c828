"""The train matrix over every device, then `dvc repro`: `alexnet-matrix` (`make matrix`).

`dvc repro` runs the train@<experiment>-<seed> and figure1@<experiment>-<lr> stages one after another. This
command runs them side by side, then hands over to `dvc repro`, whose train stages find each finished run and
adopt it ("up to date", training/resume.py) before evaluating and reporting:

  1. the stages the trainings read (resize, pca) are brought up to date: `dvc repro resize pca`;
  2. the training stages that `dvc status` reports changed run, each with the exact command DVC resolved from
     dvc.yaml (DVC's own API expands the matrix), either
       here: N at a time, each on its own GPUs (CUDA_VISIBLE_DEVICES slots of the size the trainer preset asks
             for, `trainer.devices`), its output in logs/matrix/<stage>.log, a line per finished job; or
       --slurm: one SLURM job each through submitit, with conf/hydra/launcher/slurm.yaml's settings (the ones
             `python src/train.py -m hydra/launcher=slurm` uses) and the preset's GPUs; the training runs inside
             the submitit job, so a preempted job saves and is requeued (docs/faults.md, rows 13c);
  3. `dvc repro` (unless --no-repro or a job failed).
Two jobs never share a run folder: each stage has its own, and training/lock.py stops a second training of one.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import runpy
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from alexnet_repro.basics import ConfigError

TRAINING_STAGES = ("train", "figure1")  # dvc.yaml's matrix stages that train; everything after them is `dvc repro`'s
LOG_DIR = Path("logs") / "matrix"  # under the repository root: <stage>.log per local job, submitit/ for SLURM's


@dataclass(frozen=True)
class Job:
    stage: str  # train@baseline-0
    cmd: str  # exactly as DVC resolved it from dvc.yaml
    gpus: int  # GPUs one run of it uses (0: CPU)
    processes: int  # processes per node (DDP: one per device)
    nodes: int


# --- what to run: from DVC ---------------------------------------------------------------------------------------

def training_stages(root: Path, changed_only: bool = True) -> tuple[list[str], list[tuple[str, str]]]:
    """(the stages the trainings depend on, [(stage, cmd)] of the training stages), as DVC resolves dvc.yaml.
    changed_only: only those `dvc status` reports changed (a stage recorded as done costs nothing)."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        stages = [s for s in repo.index.stages if s.name.split("@")[0] in TRAINING_STAGES]
        names = {s.addressing for s in stages}
        graph = repo.index.graph  # an edge goes from a stage to a stage it depends on
        upstream = {u.addressing for s in stages for u in graph.successors(s)} - names
        order = [s.addressing for s in repo.index.stages]
        if changed_only:  # what `dvc status` says, stage by stage (repo.status re-reads dvc.yaml per target)
            with repo.lock:
                stages = [s for s in stages if s.changed()]
        return sorted(upstream, key=order.index), [(s.addressing, s.cmd) for s in stages]


def script_and_overrides(stage: str, cmd: str) -> tuple[str, list[str]]:
    argv = shlex.split(cmd)
    if len(argv) < 2 or Path(argv[0]).name not in ("python", "python3") or not argv[1].endswith(".py"):
        raise ConfigError(f"stage {stage}: its command is not `python <script>.py ...`: {cmd}")
    return argv[1], argv[2:]


# --- how many devices a job uses: from its own composed config -----------------------------------------------------

def visible_gpus() -> list[str]:
    """The GPUs this node lets us use: CUDA_VISIBLE_DEVICES when set (its ids are kept), else every GPU."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [g.strip() for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def gpus_per_run(accelerator: str, devices, visible: int) -> int:
    """GPUs one training takes, read as Lightning reads `trainer.accelerator` and `trainer.devices`."""
    if accelerator not in ("gpu", "cuda", "auto") or (accelerator == "auto" and visible == 0):
        return 0
    if isinstance(devices, str):
        devices = -1 if devices.strip() in ("auto", "-1") else [d for d in devices.split(",") if d.strip()]
    if isinstance(devices, (list, tuple)):
        return len(devices)
    return visible if int(devices) == -1 else int(devices)


def compose_jobs(root: Path, stages: list[tuple[str, str]], visible: int) -> list[Job]:
    """Each stage's train config composed from its own command's overrides (a typo fails here, before any job)."""
    from hydra import compose, initialize_config_dir

    import alexnet_repro.training.config  # noqa: F401  (registers the train schema)

    jobs = []
    with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
        for stage, cmd in stages:
            _, overrides = script_and_overrides(stage, cmd)
            try:
                trainer = compose(config_name="train", overrides=overrides).trainer
            except Exception as err:  # Hydra's own errors: name the stage, one line
                raise ConfigError(f"stage {stage}: {str(err).splitlines()[0]}") from None
            gpus = gpus_per_run(trainer.accelerator, trainer.devices, visible)
            devices = trainer.devices if isinstance(trainer.devices, int) and trainer.devices > 0 else max(gpus, 1)
            jobs.append(Job(stage, cmd, gpus, devices, trainer.num_nodes))
    return jobs


def slots(gpus: list[str], per_job: int, jobs: int | None = None) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each of the jobs that run at once: consecutive groups of per_job GPUs.
    per_job 0 (CPU trainings): `jobs` slots (default 1) with no GPU. jobs None: as many as the GPUs hold."""
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs {jobs}: at least one job must run")
    if per_job == 0:
        return [None] * (jobs or 1)
    fit = len(gpus) // per_job
    if fit == 0:
        raise ConfigError(f"a training takes {per_job} GPUs (trainer.devices); this node has {len(gpus)}")
    if jobs is not None and jobs > fit:
        raise ConfigError(f"--jobs {jobs} needs {jobs * per_job} GPUs ({per_job} a training, trainer.devices); "
                          f"this node has {len(gpus)}: at most --jobs {fit}")
    return [",".join(gpus[i * per_job:(i + 1) * per_job]) for i in range(jobs or fit)]


# --- running them here ---------------------------------------------------------------------------------------------

def _environment(slot: str | None) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `python` is the project's
    if slot is not None:
        env["CUDA_VISIBLE_DEVICES"] = slot
    env.pop("MASTER_PORT", None)  # one inherited port for every DDP job would collide: Lightning picks a free one
    return env


def _duration(seconds: float) -> str:
    minutes, s = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m{s:02d}s" if minutes >= 60 else f"{minutes}m{s:02d}s"


def run_here(root: Path, jobs: list[Job], slot_list: list[str | None], log_dir: Path) -> list[Job]:
    """Run the jobs, len(slot_list) at a time, each with a free slot; returns the ones that failed."""
    log_dir.mkdir(parents=True, exist_ok=True)
    free: queue.Queue = queue.Queue()
    for slot in slot_list:
        free.put(slot)
    running: dict[str, subprocess.Popen] = {}
    lock = threading.Lock()
    stopping = threading.Event()

    def run(job: Job) -> tuple[int, float, str | None]:
        slot = free.get()
        try:
            if stopping.is_set():
                return -1, 0.0, slot
            start = time.monotonic()
            with open(log_dir / f"{job.stage}.log", "w") as log:
                proc = subprocess.Popen(job.cmd, shell=True, cwd=root, env=_environment(slot), stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                with lock:
                    running[job.stage] = proc
                code = proc.wait()
                with lock:
                    running.pop(job.stage, None)
            return code, time.monotonic() - start, slot
        finally:
            free.put(slot)

    failed, done = [], 0
    pool = ThreadPoolExecutor(max_workers=len(slot_list))
    futures = {pool.submit(run, job): job for job in jobs}
    try:
        for future in as_completed(futures):
            job, (code, seconds, slot) = futures[future], future.result()
            done += 1
            where = f" on GPUs {slot}" if slot else ""
            log = os.path.relpath(log_dir / f"{job.stage}.log", Path.cwd())
            if code == 0:
                print(f"[{done}/{len(jobs)}] {job.stage} done in {_duration(seconds)}{where}", flush=True)
            else:
                failed.append(job)
                print(f"[{done}/{len(jobs)}] {job.stage} FAILED (exit {code}) after {_duration(seconds)}{where}: "
                      f"see {log}", flush=True)
    except KeyboardInterrupt:
        stopping.set()  # queued jobs do not start; running ones save their last.ckpt on SIGTERM and exit
        with lock:
            for proc in running.values():
                proc.send_signal(signal.SIGTERM)
        pool.shutdown(wait=True, cancel_futures=True)
        print("interrupted: the running trainings were sent SIGTERM (each saves its last.ckpt); run the command "
              "again to resume them", file=sys.stderr)
        sys.exit(130)
    pool.shutdown(wait=True)
    return failed


# --- running them on a cluster (submitit) ---------------------------------------------------------------------------

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
    conf.pop("name", None)  # each job is named after its stage
    init = {"folder": str(log_dir / "submitit" / "%j")}
    if "max_num_timeout" in conf:
        init[f"{cluster}_max_num_timeout"] = conf.pop("max_num_timeout")
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    params = {k if k in base else f"{cluster}_{k}": v for k, v in conf.items()}
    return cluster, init, params


def job_parameters(params: dict, job: Job) -> dict:
    """The launcher's settings with the job's own size: its GPUs, one task per device (DDP), its nodes."""
    return {**params, "gpus_per_node": job.gpus, "tasks_per_node": job.processes, "nodes": job.nodes,
            "name": job.stage}


def _error_line(text: str) -> str:
    """The line that says what went wrong in submitit's report of a failed job (a traceback and log paths)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception): ", line)]
    return (errors or lines or [""])[-1]


def submit(root: Path, jobs: list[Job], launcher: str, log_dir: Path) -> list[Job]:
    """One submitit job per stage; waits for all of them; returns the ones that failed."""
    import submitit

    cluster, init, params = launcher_parameters(root, launcher, log_dir)
    executor = submitit.AutoExecutor(cluster=cluster, **init)
    submitted = []
    for job in jobs:
        executor.update_parameters(**job_parameters(params, job))
        handle = executor.submit(StageJob(job.stage, job.cmd, str(root)))
        print(f"{job.stage}: submitted as job {handle.job_id}; log {handle.paths.stdout}", flush=True)
        submitted.append((job, handle))
    failed = []
    by_handle = {id(handle): job for job, handle in submitted}
    poll = 30 if cluster == "slurm" else 1  # seconds between looks at the queue
    for done, handle in enumerate(submitit.helpers.as_completed([h for _, h in submitted], poll_frequency=poll), 1):
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


# --- the command ---------------------------------------------------------------------------------------------------

def dvc(root: Path, *args: str) -> int:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=_environment(None)).returncode


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="alexnet-matrix", description="Run the train matrix in parallel (here, or one SLURM job each), then "
        "`dvc repro`, which adopts the finished runs and evaluates and reports.")
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help="trainings at once on this node (default: its GPUs divided by the GPUs a training "
                             "takes, trainer.devices; 1 without GPUs)")
    parser.add_argument("--slurm", action="store_true",
                        help="one SLURM job per training (conf/hydra/launcher/slurm.yaml), instead of this node")
    parser.add_argument("--launcher", default=None, metavar="NAME",
                        help="submit through conf/hydra/launcher/NAME.yaml (--slurm: slurm; submitit_local: "
                             "submitit's jobs on this machine)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the commands and where each would run; run nothing")
    parser.add_argument("--no-repro", action="store_true", help="train only; leave `dvc repro` to you")
    args = parser.parse_args(argv)
    if args.slurm:
        args.launcher = args.launcher or "slurm"
    if args.launcher and args.jobs is not None:
        parser.error("--jobs is for this node; under --slurm every training is its own job")
    return args


def print_plan(upstream: list[str], jobs: list[Job], slot_list: list[str | None] | None, params: dict | None,
               log_dir: Path, no_repro: bool) -> None:
    if upstream:
        print(f"first: dvc repro {' '.join(upstream)}")
    if params is not None:
        print(f"{len(jobs)} submitit jobs; settings: " + " ".join(f"{k}={v}" for k, v in sorted(params.items())))
        for job in jobs:
            print(f"  job {job.stage}: gpus_per_node={job.gpus} tasks_per_node={job.processes} nodes={job.nodes}")
    else:
        print(f"{len(jobs)} trainings, {len(slot_list)} at a time; logs in {log_dir}/<stage>.log")
        for i, slot in enumerate(slot_list):
            print(f"  slot {i}: CUDA_VISIBLE_DEVICES={slot if slot is not None else '(unchanged: CPU)'}")
    for job in jobs:
        print(f"{job.stage}: {job.cmd}")
    print("then: nothing (--no-repro)" if no_repro else "then: dvc repro")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from dvc.repo import Repo

    root = Path(Repo.find_root()).resolve()
    log_dir = root / LOG_DIR
    if not args.dry_run:
        upstream, _ = training_stages(root, changed_only=False)
        if upstream and dvc(root, "repro", *upstream) != 0:
            print(f"error: `dvc repro {' '.join(upstream)}` failed; no training started", file=sys.stderr)
            return 1
    upstream, stages = training_stages(root)
    slot_list = params = None
    if args.launcher:  # a job's GPUs are the launcher's node's: gpus_per_node in its config
        params = launcher_parameters(root, args.launcher, log_dir)[2]
        jobs = compose_jobs(root, stages, int(params.get("gpus_per_node") or 0))
    else:
        gpus = visible_gpus()
        jobs = compose_jobs(root, stages, len(gpus))
        slot_list = slots(gpus, max((j.gpus for j in jobs), default=0), args.jobs)
    if args.dry_run:
        print_plan(upstream, jobs, slot_list, params, log_dir, args.no_repro)
        return 0
    if jobs:
        print(f"{len(jobs)} trainings to run" + (f", {len(slot_list)} at a time; logs in "
              f"{os.path.relpath(log_dir)}/" if slot_list else f" through hydra/launcher={args.launcher}"),
              flush=True)
        failed = submit(root, jobs, args.launcher, log_dir) if args.launcher else run_here(root, jobs, slot_list,
                                                                                          log_dir)
        if failed:
            print(f"error: {len(failed)} of {len(jobs)} trainings failed ({', '.join(j.stage for j in failed)}); "
                  "`dvc repro` not run", file=sys.stderr)
            return 1
    else:
        print("every training stage is up to date")
    return 0 if args.no_repro else dvc(root, "repro")


def cli() -> None:
    try:
        sys.exit(main())
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    cli()
