"""`alexnet-matrix`: the plan, then the jobs here or on SLURM, then `dvc repro` (the package's docstring)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from alexnet_repro.basics import ConfigError
from alexnet_repro.matrix.local import bring_data_up_to_date, cpu_slots, environment, record_adopted, run_here, slots
from alexnet_repro.matrix.plan import (
    EVALUATION_STAGES,
    LOG_DIR,
    Job,
    compose_jobs,
    data_jobs,
    training_stages,
    visible_gpus,
)
from alexnet_repro.matrix.slurm import by_size, launcher_parameters, submit_and_wait, submit_arrays
from alexnet_repro.training import lock


def dvc(root: Path, *args: str) -> int:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=environment(None)).returncode


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="alexnet-matrix", description="Run the train matrix in parallel (here, or as SLURM job arrays), then "
        "`dvc repro`, which adopts the finished runs and evaluates and reports (under --slurm, as a job that starts "
        "once every training has succeeded).")
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help="jobs at once on this node (default: its GPUs divided by the GPUs a training takes, "
                             "trainer.devices; without GPUs, its cores divided by trainer.cpu_threads)")
    parser.add_argument("--slurm", action="store_true",
                        help="submit the trainings as SLURM job arrays and `dvc repro` as a job after them "
                             "(conf/hydra/launcher/slurm.yaml), then exit")
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


def count(jobs: list[Job]) -> str:
    evaluations = sum(j.stage.split("@")[0] in EVALUATION_STAGES for j in jobs)
    trainings = len(jobs) - evaluations
    return (f"{trainings} training{'s' if trainings != 1 else ''}"
            + (f" and {evaluations} evaluation{'s' if evaluations != 1 else ''}" if evaluations else ""))


def print_plan(data: list[Job], jobs: list[Job], slot_list: list[str | None] | None, params: dict | None,
               log_dir: Path, no_repro: bool) -> None:
    if data:
        print(f"first, the data stages that changed: {' '.join(j.stage for j in data)}")
    if params is not None:
        print(f"{len(jobs)} submitit jobs; settings: " + " ".join(f"{k}={v}" for k, v in sorted(params.items())))
        for (gpus, processes, nodes), group in by_size(jobs).items():
            print(f"  an array of {len(group)}: gpus_per_node={gpus} tasks_per_node={processes} nodes={nodes}: "
                  + " ".join(j.stage for j in group))
    else:
        print(f"{count(jobs)}, {len(slot_list)} at a time; logs in {log_dir}/<stage>.log")
        for i, slot in enumerate(slot_list):
            print(f"  slot {i}: CUDA_VISIBLE_DEVICES={slot if slot is not None else '(unchanged: CPU)'}")
    for job in jobs:
        print(f"{job.stage}: {job.cmd}")
    then = "dvc repro" + (", as a SLURM job after every array has succeeded (afterok)" if params is not None else "")
    print("then: nothing (--no-repro)" if no_repro else f"then: {then}")


# Two matrices in one repository would write the same logs and start the same trainings (whose run-folder locks
# would fail one of them halfway): the second stops at once. The kernel drops the lock when the first ends.
MATRIX_IN_USE = ("another alexnet-matrix (PID {pid}) is running in this repository ({folder} is its): wait for it to "
                 "end, or stop it (its finished runs are kept and a killed one resumes)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from dvc.repo import Repo

    root = Path(Repo.find_root()).resolve()
    log_dir = root / LOG_DIR
    if args.dry_run:
        return run_matrix(root, log_dir, args)
    with lock.hold(log_dir, in_use=MATRIX_IN_USE):
        return run_matrix(root, log_dir, args)


def run_matrix(root: Path, log_dir: Path, args: argparse.Namespace) -> int:
    if not args.dry_run and not bring_data_up_to_date(root, data_jobs(root), log_dir):
        return 1
    slot_list = params = None
    if args.launcher:  # a job's GPUs are the launcher's node's: gpus_per_node in its config
        stages = training_stages(root)
        cluster, _, params = launcher_parameters(root, args.launcher, log_dir)
        jobs = compose_jobs(root, stages, int(params.get("gpus_per_node") or 0))
    else:
        stages = training_stages(root, evaluations=True)
        gpus = visible_gpus()
        jobs = compose_jobs(root, stages, len(gpus))
        per_job = max((j.gpus for j in jobs), default=0)
        slot_list = slots(gpus, per_job, args.jobs if args.jobs is not None or per_job else cpu_slots(jobs))
    if args.dry_run:
        print_plan(data_jobs(root), jobs, slot_list, params, log_dir, args.no_repro)
        return 0
    if args.launcher and cluster == "slurm":  # submitted, not waited for: SLURM runs dvc repro after them
        print(f"{count(jobs)} to submit through hydra/launcher={args.launcher}", flush=True)
        ids = submit_arrays(root, jobs, args.launcher, log_dir, repro=not args.no_repro)
        print(f"submitted: SLURM jobs {', '.join(ids)}; follow them with `squeue -j {','.join(ids)}`, their logs in "
              f"{os.path.relpath(log_dir / 'submitit')}/; after a failure, `alexnet-matrix --slurm` again submits "
              "what is not done", flush=True)
        return 0
    if jobs:
        print(f"{count(jobs)} to run" + (f", {len(slot_list)} at a time; logs in "
              f"{os.path.relpath(log_dir)}/" if slot_list else f" through hydra/launcher={args.launcher}"),
              flush=True)
        failed = (submit_and_wait(root, jobs, args.launcher, log_dir) if args.launcher
                  else run_here(root, jobs, slot_list, log_dir))
        if failed:
            print(f"error: {len(failed)} of {len(jobs)} jobs failed or could not run "
                  f"({', '.join(j.stage for j in failed)}); `dvc repro` not run", file=sys.stderr)
            return 1
        if not args.launcher:
            record_adopted(root, jobs, slot_list, log_dir)
    else:
        print("every training stage is up to date")
    return 0 if args.no_repro else dvc(root, "repro")


# What to do when DVC cannot read its own files: dvc.lock is written whole by the matrix (lock_record.py) and by
# `dvc repro`, not atomically, so a kill during that write leaves it cut short.
DVC_FILE_REMEDY = ("if a kill cut dvc.lock short, restore it (`git checkout dvc.lock`) or delete it: finished runs "
                   "and evaluations are adopted again, not recomputed")


def cli() -> None:
    from dvc.exceptions import DvcException

    try:
        sys.exit(main())
    except (ConfigError, lock.RunInUse) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except DvcException as err:  # DVC's messages are written for users (its CLI prints them without a traceback)
        message = str(err).splitlines()[0]
        cause = f" ({str(err.__cause__).splitlines()[0]})" if err.__cause__ and str(err.__cause__) else ""
        remedy = f"; {DVC_FILE_REMEDY}" if "dvc.lock" in message else ""
        print(f"error: {message}{cause}{remedy}", file=sys.stderr)
        sys.exit(1)
