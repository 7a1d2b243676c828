"""A process that runs pipeline stage commands one after another inside itself: alexnet-matrix's CPU slots.

A stage started by `dvc repro` is a new Python process that spends 6-8 s importing torch, Lightning and Hydra
before it trains for 15-30 s on the embedded data; a worker pays that once and then runs each command it is
given (`python src/<stage>.py <overrides>`, exactly as DVC resolved it) as that script's `__main__`, with the
arguments in sys.argv, as a new process would. Every job seeds its own streams (seeds.py) and sets its own
thread count (trainer.cpu_threads), so it computes what a process of its own computes (tests/test_matrix.py).

Protocol: one JSON object per line on stdin, {"stage", "cmd", "log"}; for each, one line on the result file
descriptor given as the first argument, {"stage", "code", "seconds"}. The job's stdout and stderr (file
descriptors 1 and 2, so C libraries' output too) go to its log. End of input ends the worker."""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from alexnet_repro.matrix.plan import script_and_overrides


def exit_code(done: SystemExit) -> int:
    """The code a process would have exited with: sys.exit(None) is 0, sys.exit("text") is 1."""
    if done.code is None:
        return 0
    return done.code if isinstance(done.code, int) else 1


def run_stage(stage: str, cmd: str, log: Path) -> int:
    """Run `cmd` (python <script> <overrides>) here, its output in `log`; its exit code."""
    script, overrides = script_and_overrides(stage, cmd)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "w") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        argv = sys.argv
        try:
            sys.argv = [script, *overrides]
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as done:
            code = exit_code(done)
        except Exception:  # what a process of its own would print before exiting 1
            traceback.print_exc()
            code = 1
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
    return code


def die_with_parent(poll_s: float = 1.0) -> None:
    """Stop when alexnet-matrix dies, whatever killed it (SIGKILL, an OOM killer, a closed terminal): a worker left
    running with PPID 1 kept training into the next run's logs and held its run folder ("in use by PID N"). A
    watch on the parent's PID, not prctl's PDEATHSIG, which fires when the parent's *thread* ends (the matrix
    starts workers from its pool threads). SIGTERM, so a training saves last.ckpt first (training/signals.py)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        print(f"stage_worker: alexnet-matrix (PID {parent}) is gone: stopping", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def main(result_fd: int) -> None:
    die_with_parent()
    with os.fdopen(result_fd, "w", buffering=1) as results:
        for line in sys.stdin:
            job = json.loads(line)
            start = time.monotonic()
            code = run_stage(job["stage"], job["cmd"], Path(job["log"]))
            results.write(json.dumps({"stage": job["stage"], "code": code,
                                      "seconds": time.monotonic() - start}) + "\n")
            if code in (130, 138, 140, 143):  # a signal stopped the job (training/signals.py): stop here too
                return


if __name__ == "__main__":
    main(int(sys.argv[1]))
