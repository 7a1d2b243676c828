"""The train matrix over every device, then `dvc repro`: `alexnet-matrix` (`make matrix`, and `make run`).

`dvc repro` runs the train@<experiment>-<seed> and figure1@<experiment>-<lr> stages one after another. This
command runs them side by side, then hands over to `dvc repro`, whose train stages find each finished run and
adopt it ("up to date", training/run.py) before evaluating and reporting:

  1. the stages the trainings read (resize, pca) are brought up to date: `dvc repro resize pca`;
  2. the training stages that `dvc status` reports changed run, each with the exact command DVC resolved from
     dvc.yaml (DVC's own API expands the matrix), either
       here: N at a time, each on its own GPUs (CUDA_VISIBLE_DEVICES slots of the size the trainer preset asks
             for, `trainer.devices`), its output in logs/matrix/<stage>.log, a line per finished job; on a
             machine without GPUs, one slot per core (per `trainer.cpu_threads` cores), each slot a worker
             process that runs its jobs inside itself (stage_worker.py: torch and Lightning load once per
             worker, not once per stage), and the evaluations of the experiments trained here too, each once
             its trainings have finished (evaluate adopts them in its turn, evaluation/inputs.py); or
       --slurm: one SLURM job each through submitit, with conf/hydra/launcher/slurm.yaml's settings (the ones
             `python src/train.py -m hydra/launcher=slurm` uses) and the preset's GPUs; the training runs inside
             the submitit job, so a preempted job saves and is requeued (docs/faults.md, rows 13c);
  3. `dvc repro` (unless --no-repro or a job failed).
Two jobs never share a run folder: each stage has its own, and training/lock.py stops a second training of one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import runpy
import shlex
import signal
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from alexnet_repro.basics import ConfigError

# dvc.yaml's stages that train (figure1_cifar: Figure 1's four-layer nets, one activation a job); everything after
# them is `dvc repro`'s
TRAINING_STAGES = ("train", "figure1", "figure1_cifar")
EVALUATION_STAGES = ("evaluate", "evaluate_figure1")  # run side by side too, on CPU workers, after their trainings
LOG_DIR = Path("logs") / "matrix"  # under the repository root: <stage>.log per local job, submitit/ for SLURM's


@dataclass(frozen=True)
class Job:
    stage: str  # train@baseline-0
    cmd: str  # exactly as DVC resolved it from dvc.yaml
    gpus: int  # GPUs one run of it uses (0: CPU)
    processes: int  # processes per node (DDP: one per device)
    nodes: int
    after: tuple[str, ...] = ()  # stages of this run that must finish first (an evaluation's trainings)
    threads: int | None = None  # its cpu_threads setting: the cores it takes on a machine without GPUs (None: all)


# --- what to run: from DVC ---------------------------------------------------------------------------------------

def training_stages(root: Path, changed_only: bool = True, evaluations: bool = False
                    ) -> tuple[list[str], list[tuple[str, str, tuple[str, ...]]]]:
    """(the stages the trainings depend on, [(stage, cmd, the listed stages it waits for)]), as DVC resolves
    dvc.yaml. changed_only: only the stages `dvc status` reports changed (a stage recorded as done costs nothing).
    evaluations: also each evaluation stage that is changed or reads a training listed here."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph  # an edge goes from a stage to a stage it depends on
        order = [s.addressing for s in repo.index.stages]
        training = [s for s in repo.index.stages if s.name.split("@")[0] in TRAINING_STAGES]
        names = {s.addressing for s in training}
        upstream = {u.addressing for s in training for u in graph.successors(s)} - names
        if changed_only:  # what `dvc status` says, stage by stage (repo.status re-reads dvc.yaml per target)
            with repo.lock:
                training = [s for s in training if s.changed()]
        chosen = list(training)
        if evaluations:
            runs = {s.addressing for s in training}
            with repo.lock:
                chosen += [s for s in repo.index.stages if s.name.split("@")[0] in EVALUATION_STAGES and
                           ({u.addressing for u in graph.successors(s)} & runs or not changed_only or s.changed())]
        listed = {s.addressing for s in chosen}
        jobs = [(s.addressing, s.cmd, tuple(sorted(u.addressing for u in graph.successors(s)
                                                   if u.addressing in listed))) for s in chosen]
        return sorted(upstream, key=order.index), sorted(jobs, key=lambda job: order.index(job[0]))


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


def compose_jobs(root: Path, stages: list[tuple], visible: int) -> list[Job]:
    """Each stage's config composed from its own command's overrides (a typo fails here, before any job): a
    training's size from its trainer preset; an evaluation takes one GPU when there is one."""
    from hydra import compose, initialize_config_dir

    import alexnet_repro.evaluation.config  # noqa: F401  (registers the schemas)
    import alexnet_repro.figure1.config  # noqa: F401
    import alexnet_repro.training.config  # noqa: F401

    jobs = []
    with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
        for stage, cmd, *after in stages:
            script, overrides = script_and_overrides(stage, cmd)
            try:
                cfg = compose(config_name=Path(script).stem, overrides=overrides)
            except Exception as err:  # Hydra's own errors: name the stage, one line
                raise ConfigError(f"stage {stage}: {str(err).splitlines()[0]}") from None
            waits = tuple(after[0]) if after else ()
            if "trainer" not in cfg:  # an evaluation
                jobs.append(Job(stage, cmd, min(visible, 1), 1, 1, waits, cfg.get("cpu_threads")))
                continue
            trainer = cfg.trainer
            gpus = gpus_per_run(trainer.accelerator, trainer.devices, visible)
            devices = trainer.devices if isinstance(trainer.devices, int) and trainer.devices > 0 else max(gpus, 1)
            jobs.append(Job(stage, cmd, gpus, devices, trainer.num_nodes, waits, trainer.get("cpu_threads")))
    return jobs


def available_cores() -> int:
    """The cores this process may run on (a SLURM or taskset mask counts), not the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_slots(jobs: list[Job]) -> int:
    """Jobs side by side on a machine without GPUs: one per `cpu_threads` cores (the widest job's; null: all)."""
    cores = available_cores()
    widest = max((j.threads or cores for j in jobs), default=cores)
    return max(1, min(cores // widest, len(jobs)))


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


class Slot:
    """Where one job at a time runs: GPUs (each job a process of its own, CUDA_VISIBLE_DEVICES set), or a share
    of the CPU cores (a stage_worker.py process that runs its jobs inside itself, its threads capped)."""

    def __init__(self, root: Path, gpus: str | None, threads: int, worker_log: Path):
        self.root, self.gpus, self.threads, self.worker_log = root, gpus, threads, worker_log
        self.proc: subprocess.Popen | None = None  # the running job's process, or the worker
        self.results = None

    def _environment(self) -> dict:
        env = _environment(self.gpus)
        if self.gpus is None:  # numpy's and oneDNN's pools too: `jobs` pools of all cores would oversubscribe them
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(self.threads)
            # The package of the repository the stages run in, as `python src/<stage>.py` there would import it
            src = str(self.root / "src")
            env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        return env

    def _start_worker(self) -> None:
        read_fd, write_fd = os.pipe()
        with open(self.worker_log, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "alexnet_repro.stage_worker", str(write_fd)],
                                         cwd=self.root, env=self._environment(), stdin=subprocess.PIPE, stdout=log,
                                         stderr=subprocess.STDOUT, pass_fds=(write_fd,), text=True)
        os.close(write_fd)
        self.results = os.fdopen(read_fd)

    def run(self, job: Job, log: Path) -> tuple[int, float]:
        start = time.monotonic()
        if self.gpus is not None:
            with open(log, "w") as out:
                self.proc = subprocess.Popen(job.cmd, shell=True, cwd=self.root, env=self._environment(), stdout=out,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                return self.proc.wait(), time.monotonic() - start
        if self.proc is None or self.proc.poll() is not None:  # first job, or the worker died (killed, OOM)
            self._start_worker()
        self.proc.stdin.write(json.dumps({"stage": job.stage, "cmd": job.cmd, "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        answer = self.results.readline()
        if not answer:  # the worker ended inside the job: its code is the job's
            return self.proc.wait() or 1, time.monotonic() - start
        return json.loads(answer)["code"], time.monotonic() - start

    def interrupt(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # a training saves its last.ckpt and exits (signals.py)

    def close(self) -> None:
        if self.gpus is None and self.proc is not None:
            self.proc.stdin.close()  # end of input: the worker ends
            self.proc.wait()
            self.results.close()


def run_here(root: Path, jobs: list[Job], slot_list: list[str | None], log_dir: Path, verbose: bool = True
             ) -> list[Job]:
    """Run the jobs, len(slot_list) at a time, each in a free slot once the jobs it waits for (Job.after) have
    finished; returns the ones that failed, and those left out because a job they wait for failed. verbose: a
    line per job; else per failure only."""
    log_dir.mkdir(parents=True, exist_ok=True)
    cores = available_cores()
    slots_here = [Slot(root, gpus, max(1, cores // len(slot_list)), log_dir / f"worker{i}.log")
                  for i, gpus in enumerate(slot_list)]
    free, pending, running = list(slots_here), list(jobs), {}
    succeeded: set[str] = set()
    failed: list[Job] = []
    pool = ThreadPoolExecutor(max_workers=len(slots_here))

    def report(job: Job, line: str) -> None:
        if verbose or job in failed:
            print(f"[{len(succeeded) + len(failed)}/{len(jobs)}] {job.stage} {line}", flush=True)

    try:
        while pending or running:
            for job in list(pending):
                if {j.stage for j in failed} & set(job.after):
                    pending.remove(job)
                    failed.append(job)
                    report(job, f"not run: it needs {', '.join(sorted(set(job.after) - succeeded))}")
                elif free and set(job.after) <= succeeded:
                    pending.remove(job)
                    slot = free.pop(0)
                    running[pool.submit(slot.run, job, log_dir / f"{job.stage}.log")] = (job, slot)
            if not running:
                break
            for future in wait(running, return_when=FIRST_COMPLETED).done:
                job, slot = running.pop(future)
                free.append(slot)
                code, seconds = future.result()
                where = f" on GPUs {slot.gpus}" if slot.gpus else ""
                if code == 0:
                    succeeded.add(job.stage)
                    report(job, f"done in {_duration(seconds)}{where}")
                else:
                    failed.append(job)
                    log = os.path.relpath(log_dir / f"{job.stage}.log", Path.cwd())
                    report(job, f"FAILED (exit {code}) after {_duration(seconds)}{where}: see {log}")
    except KeyboardInterrupt:
        for slot in slots_here:  # queued jobs do not start; running ones save their last.ckpt on SIGTERM and exit
            slot.interrupt()
        pool.shutdown(wait=True, cancel_futures=True)
        print("interrupted: the running trainings were sent SIGTERM (each saves its last.ckpt); run the command "
              "again to resume them", file=sys.stderr)
        sys.exit(130)
    finally:
        pool.shutdown(wait=True)
        for slot in slots_here:
            slot.close()
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
                        help="jobs at once on this node (default: its GPUs divided by the GPUs a training takes, "
                             "trainer.devices; without GPUs, its cores divided by trainer.cpu_threads)")
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


def record_adopted(root: Path, jobs: list[Job], slot_list: list[str | None], log_dir: Path) -> None:
    """Each job's command once more, in the same slots: it finds its finished result and adopts it (about a second:
    no torch), which checks that the result is the one its config, data and code give now; those are then
    recorded in dvc.lock in one write (lock_record.py), so that `dvc repro` has nothing left to run for them."""
    from alexnet_repro.lock_record import record

    confirm = log_dir / "confirm"
    again = run_here(root, jobs, slot_list, confirm, verbose=False)
    recorded = record(root, [j.stage for j in jobs if j not in again])
    print(f"recorded {len(recorded)} of {len(jobs)} jobs in dvc.lock (each adopted its result once more: "
          f"{os.path.relpath(confirm)}/)" + (f"; `dvc repro` runs the {len(again)} others" if again else ""),
          flush=True)


def count(jobs: list[Job]) -> str:
    evaluations = sum(j.stage.split("@")[0] in EVALUATION_STAGES for j in jobs)
    return f"{len(jobs) - evaluations} trainings" + (f" and {evaluations} evaluations" if evaluations else "")


def print_plan(upstream: list[str], jobs: list[Job], slot_list: list[str | None] | None, params: dict | None,
               log_dir: Path, no_repro: bool) -> None:
    if upstream:
        print(f"first: dvc repro {' '.join(upstream)}")
    if params is not None:
        print(f"{len(jobs)} submitit jobs; settings: " + " ".join(f"{k}={v}" for k, v in sorted(params.items())))
        for job in jobs:
            print(f"  job {job.stage}: gpus_per_node={job.gpus} tasks_per_node={job.processes} nodes={job.nodes}")
    else:
        print(f"{count(jobs)}, {len(slot_list)} at a time; logs in {log_dir}/<stage>.log")
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
    slot_list = params = None
    if args.launcher:  # a job's GPUs are the launcher's node's: gpus_per_node in its config
        upstream, stages = training_stages(root)
        params = launcher_parameters(root, args.launcher, log_dir)[2]
        jobs = compose_jobs(root, stages, int(params.get("gpus_per_node") or 0))
    else:
        upstream, stages = training_stages(root, evaluations=True)
        gpus = visible_gpus()
        jobs = compose_jobs(root, stages, len(gpus))
        per_job = max((j.gpus for j in jobs), default=0)
        slot_list = slots(gpus, per_job, args.jobs if args.jobs is not None or per_job else cpu_slots(jobs))
    if args.dry_run:
        print_plan(upstream, jobs, slot_list, params, log_dir, args.no_repro)
        return 0
    if jobs:
        print(f"{count(jobs)} to run" + (f", {len(slot_list)} at a time; logs in "
              f"{os.path.relpath(log_dir)}/" if slot_list else f" through hydra/launcher={args.launcher}"),
              flush=True)
        failed = submit(root, jobs, args.launcher, log_dir) if args.launcher else run_here(root, jobs, slot_list,
                                                                                          log_dir)
        if failed:
            print(f"error: {len(failed)} of {len(jobs)} jobs failed or could not run "
                  f"({', '.join(j.stage for j in failed)}); `dvc repro` not run", file=sys.stderr)
            return 1
        if not args.launcher:
            record_adopted(root, jobs, slot_list, log_dir)
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
