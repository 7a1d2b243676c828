"""Run a stage's jobs in worker processes, and fail (not hang) when one of them is killed.

multiprocessing.Pool waits forever for the result of a worker that the kernel's OOM killer (or anyone's
SIGKILL) ended: at ImageNet scale that is a stage that sits there for hours doing nothing. concurrent.futures'
process pool watches its workers and fails every job still owed with BrokenProcessPool, which becomes
WorkerDied here: one line, naming the stage, printed by cli.user_errors like any other OSError.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


class WorkerDied(OSError):
    """A worker process ended without returning its job's result. An OSError, because that is what it is
    (the system took the process away, most often for memory) and because the stages report OSErrors as
    one line: see cli.USER_ERRORS."""


def map_in_processes(fn: Callable[[Job], Result], jobs: Sequence[Job], workers: int, *, ordered: bool = False,
                     desc: str = "worker pool") -> Iterator[Result]:
    """Yield fn(job) for every job, computed in up to `workers` forked processes: in the jobs' order if
    `ordered`, else as they finish. workers <= 1, or a single job, runs in this process (plain map).

    A job's own exception is re-raised here, as Pool did. A worker that dies raises WorkerDied, naming
    `desc`. On any early exit (an error, Ctrl-C, the caller stopping) running jobs are terminated rather
    than waited for, as Pool's context manager did; outputs must therefore be written atomically.
    """
    if workers <= 1 or len(jobs) <= 1:
        yield from map(fn, jobs)
        return
    n = min(workers, len(jobs))
    # fork, as before: the jobs' functions and whatever the parent loaded are there without pickling them.
    executor = ProcessPoolExecutor(max_workers=n, mp_context=get_context("fork"))
    finished = False
    try:
        futures = [executor.submit(fn, job) for job in jobs]
        pending = deque(futures) if ordered else set(futures)
        del futures  # only `pending` holds them, so a result once yielded is freed
        yield from (_in_order(pending) if ordered else _as_finished(pending))
        finished = True
    except BrokenProcessPool as err:
        raise WorkerDied(f"{desc}: one of the {n} worker processes died before finishing its job (most likely "
                         f"the system killed it for lack of memory: fewer workers need less)") from err
    finally:
        if finished:
            executor.shutdown(wait=True)
        else:
            _stop_now(executor)


def _in_order(pending: deque[Future]) -> Iterator:
    while pending:
        yield pending.popleft().result()  # popped: a result yielded is not held here any longer


def _as_finished(pending: set[Future]) -> Iterator:
    while pending:
        done = wait(pending, return_when=FIRST_COMPLETED).done
        pending -= done  # in place: the caller's set is this one
        while done:
            yield done.pop().result()  # popped, as in _in_order


def _stop_now(executor: ProcessPoolExecutor) -> None:
    """End the running jobs now and drop the others: waiting for every running job would make an error or
    Ctrl-C take as long as the slowest job (minutes, at full scale)."""
    # concurrent.futures has no public way to do this before Python 3.14 (terminate_workers), so this reads
    # the private process table, which every version since 3.2 has.
    processes = list((executor._processes or {}).values())
    for process in processes:
        process.terminate()
    # The pool sees its workers gone and fails what is left; waiting for it here means that no worker
    # outlives this call (a pool broken by a killed worker is still joining the others at this point).
    executor.shutdown(wait=True, cancel_futures=True)
    for process in processes:
        process.join()
