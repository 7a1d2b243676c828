"""Running the jobs on this node: a slot per GPU group, or per share of the CPU cores (a worker process that
runs its jobs inside itself, stage_worker.py); then each job's result recorded in dvc.lock in one write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import NoReturn

from alexnet_repro.basics import ConfigError
from alexnet_repro.matrix.plan import Job


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


def environment(slot: str | None) -> dict:
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
        env = environment(self.gpus)
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


class _Schedule:
    """One run_here call's bookkeeping: the jobs pending, running and ended, and the slots free."""

    def __init__(self, jobs: list[Job], slots_here: list[Slot], log_dir: Path, verbose: bool):
        self.jobs, self.log_dir, self.verbose = jobs, log_dir, verbose
        self.free, self.pending, self.running = list(slots_here), list(jobs), {}
        self.succeeded: set[str] = set()
        self.failed: list[Job] = []

    def report(self, job: Job, line: str) -> None:
        if self.verbose or job in self.failed:
            print(f"[{len(self.succeeded) + len(self.failed)}/{len(self.jobs)}] {job.stage} {line}", flush=True)

    def start_ready(self, pool: ThreadPoolExecutor) -> None:
        """Each pending job whose waits have finished starts in a free slot; one whose wait failed fails too."""
        for job in list(self.pending):
            if {j.stage for j in self.failed} & set(job.after):
                self.pending.remove(job)
                self.failed.append(job)
                self.report(job, f"not run: it needs {', '.join(sorted(set(job.after) - self.succeeded))}")
            elif self.free and set(job.after) <= self.succeeded:
                self.pending.remove(job)
                slot = self.free.pop(0)
                self.running[pool.submit(slot.run, job, self.log_dir / f"{job.stage}.log")] = (job, slot)

    def wait_for_some(self) -> None:
        """Blocks until at least one running job ends; records each that has, and frees its slot."""
        for future in wait(self.running, return_when=FIRST_COMPLETED).done:
            job, slot = self.running.pop(future)
            self.free.append(slot)
            code, seconds = future.result()
            self._record(job, slot, code, seconds)

    def _record(self, job: Job, slot: Slot, code: int, seconds: float) -> None:
        where = f" on GPUs {slot.gpus}" if slot.gpus else ""
        if code == 0:
            self.succeeded.add(job.stage)
            self.report(job, f"done in {_duration(seconds)}{where}")
        else:
            self.failed.append(job)
            log = os.path.relpath(self.log_dir / f"{job.stage}.log", Path.cwd())
            self.report(job, f"FAILED (exit {code}) after {_duration(seconds)}{where}: see {log}")


def _slots_on(root: Path, slot_list: list[str | None], log_dir: Path) -> list[Slot]:
    cores = available_cores()
    return [Slot(root, gpus, max(1, cores // len(slot_list)), log_dir / f"worker{i}.log")
            for i, gpus in enumerate(slot_list)]


def _stop_after_interrupt(slots_here: list[Slot], pool: ThreadPoolExecutor) -> NoReturn:
    for slot in slots_here:  # queued jobs do not start; running ones save their last.ckpt on SIGTERM and exit
        slot.interrupt()
    pool.shutdown(wait=True, cancel_futures=True)
    print("interrupted: the running trainings were sent SIGTERM (each saves its last.ckpt); run the command "
          "again to resume them", file=sys.stderr)
    sys.exit(130)


def run_here(root: Path, jobs: list[Job], slot_list: list[str | None], log_dir: Path, verbose: bool = True
             ) -> list[Job]:
    """Run the jobs, len(slot_list) at a time, each in a free slot once the jobs it waits for (Job.after) have
    finished; returns the ones that failed, and those left out because a job they wait for failed. verbose: a
    line per job; else per failure only."""
    log_dir.mkdir(parents=True, exist_ok=True)
    slots_here = _slots_on(root, slot_list, log_dir)
    schedule = _Schedule(jobs, slots_here, log_dir, verbose)
    pool = ThreadPoolExecutor(max_workers=len(slots_here))
    try:
        while schedule.pending or schedule.running:
            schedule.start_ready(pool)
            if not schedule.running:
                break
            schedule.wait_for_some()
    except KeyboardInterrupt:
        _stop_after_interrupt(slots_here, pool)
    finally:
        pool.shutdown(wait=True)
        for slot in slots_here:
            slot.close()
    return schedule.failed


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


def bring_data_up_to_date(root: Path, jobs: list[Job], log_dir: Path) -> bool:
    """Run the data stages that changed (plan.data_jobs), the chains side by side, then record them in dvc.lock in
    one write; False (and a line saying which) if one failed."""
    from alexnet_repro.lock_record import record

    if not jobs:
        return True
    chains = sum(not job.after for job in jobs)
    slot_list = [None] * max(1, min(chains, available_cores()))
    print(f"{len(jobs)} data stages to run, {len(slot_list)} at a time: {' '.join(j.stage for j in jobs)}", flush=True)
    failed = run_here(root, jobs, slot_list, log_dir)
    if failed:
        log = os.path.relpath(log_dir / f"{failed[0].stage}.log", Path.cwd())
        print(f"error: data stage {failed[0].stage} failed or could not run: see {log}; no training started",
              file=sys.stderr)
        return False
    record(root, [job.stage for job in jobs])
    return True
