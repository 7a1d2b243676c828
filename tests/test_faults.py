"""Faults at full scale: a worker process killed (the OOM killer's SIGKILL) must end a stage with one line,
not hang it, and leave nothing that a re-run would take for finished. Every test here that could hang has
a timeout (pytest-timeout): a regression fails instead of sitting there."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import time

import numpy as np
import pytest

from alexnet_repro import cli
from alexnet_repro.data import pca as pca_mod
from alexnet_repro.data import resize as resize_mod
from alexnet_repro.data.fetch import IncompleteDownload
from alexnet_repro.data.pca import pixel_statistics
from alexnet_repro.data.resize import build_store
from alexnet_repro.data.store import shard_is_complete
from alexnet_repro.workers import WorkerDied, map_in_processes
from conftest import resize_settings

_real_run_job = resize_mod._run_job
_real_partial_sums = pca_mod._partial_sums


def _square(x: int) -> int:
    time.sleep(0.01 * (x % 3))  # finishing out of order, so that ordered=True has something to do
    return x * x


def _square_or_die(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
    return x * x


def _fail_fast_or_sleep(x: int) -> int:
    if x == 0:
        raise ValueError("job 0 is bad")
    time.sleep(60)
    return x


def _run_job_or_die(job):
    if job.stem == "train-00001":
        os.kill(os.getpid(), signal.SIGKILL)
    return _real_run_job(job)


def _partial_sums_or_die(args):
    if int(args[1][0]) > 0:  # every chunk but the first
        os.kill(os.getpid(), signal.SIGKILL)
    return _real_partial_sums(args)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("workers", [1, 2])
def test_results_are_those_of_map(workers):
    jobs = list(range(10))
    assert list(map_in_processes(_square, jobs, workers, ordered=True)) == [x * x for x in jobs]
    assert sorted(map_in_processes(_square, jobs, workers)) == [x * x for x in jobs]


@pytest.mark.timeout(60)
def test_killed_worker_is_an_error_not_a_hang():
    """multiprocessing.Pool waited forever for the killed worker's result."""
    started = time.monotonic()
    with pytest.raises(WorkerDied, match="squares: one of the 2 worker processes died") as died:
        list(map_in_processes(_square_or_die, list(range(8)), 2, desc="squares"))
    assert time.monotonic() - started < 30
    assert "\n" not in str(died.value)
    assert multiprocessing.active_children() == []  # the other worker is not left behind


@pytest.mark.timeout(60)
def test_failing_job_raises_its_error_and_stops_the_others_at_once():
    started = time.monotonic()
    with pytest.raises(ValueError, match="job 0 is bad"):
        list(map_in_processes(_fail_fast_or_sleep, list(range(4)), 2))
    assert time.monotonic() - started < 30  # not the 60 s the running job would take
    assert multiprocessing.active_children() == []


def test_worker_died_and_incomplete_download_are_one_line_user_errors(monkeypatch, capsys):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setattr(cli, "_task_started", False)  # user_errors sets it; other tests rely on it unset
    for err in (WorkerDied("resize -> store: one of the 2 worker processes died"),
                IncompleteDownload("http://x/a.tar: the connection closed after byte 5 of 10")):
        with pytest.raises(SystemExit) as done, cli.user_errors():
            raise err
        assert done.value.code == cli.USAGE_EXIT
        assert capsys.readouterr().err == f"error: {err}\n"


def _store_files(store):
    return {p.name: p.read_bytes() for p in sorted(store.iterdir())}


@pytest.mark.timeout(300)
def test_killed_resize_worker_leaves_no_shard_taken_for_finished(tiny_data, tmp_path, monkeypatch):
    """The stage fails with WorkerDied; every shard whose table exists is whole; a re-run makes exactly the
    store that an uninterrupted run makes (bit for bit, whatever the number of workers)."""
    reference = tmp_path / "reference"
    build_store(tiny_data["tree"], reference, resize_settings(shard_size=20, workers=1), progress=False)
    store = tmp_path / "store"
    monkeypatch.setattr(resize_mod, "_run_job", _run_job_or_die)
    with pytest.raises(WorkerDied, match=f"resize -> {store}"):
        build_store(tiny_data["tree"], store, resize_settings(shard_size=20, workers=2), progress=False)
    assert not (store / "index.json").exists()
    assert not (store / "train-00001.json").exists()
    expected = _store_files(reference)
    for table in store.glob("*.json"):  # a shard with a table is finished: it must be the right one
        assert shard_is_complete(store, table.stem, json.loads(expected[table.name])["manifest"])
        assert (store / f"{table.stem}.bin").read_bytes() == expected[f"{table.stem}.bin"]
    monkeypatch.setattr(resize_mod, "_run_job", _real_run_job)
    build_store(tiny_data["tree"], store, resize_settings(shard_size=20, workers=2), progress=False)
    assert _store_files(store) == expected  # no temporaries left either


@pytest.mark.timeout(300)
def test_killed_pca_worker_is_an_error_and_workers_do_not_change_the_result(tiny_data, monkeypatch):
    one, mean_one = pixel_statistics(tiny_data["store"], workers=1, progress=False)
    two, mean_two = pixel_statistics(tiny_data["store"], workers=2, progress=False)
    assert one == two and np.array_equal(mean_one, mean_two)
    monkeypatch.setattr(pca_mod, "_partial_sums", _partial_sums_or_die)
    with pytest.raises(WorkerDied, match="pca statistics"):
        pixel_statistics(tiny_data["store"], workers=2, progress=False)


@pytest.mark.timeout(300)
def test_resize_index_does_not_depend_on_the_number_of_workers(tiny_data, tmp_path):
    """Skipped files are listed in shard order, not in the order the workers happened to finish in."""
    raw = tmp_path / "raw"
    shutil.copytree(tiny_data["tree"], raw)
    images = sorted((raw / "train").rglob("*.JPEG"))
    for victim in (images[45], images[3]):  # in shards 2 and 0: the later shard may well finish first
        victim.write_bytes(b"not an image")
    stores = [tmp_path / f"store{workers}" for workers in (1, 2)]
    for workers, store in zip((1, 2), stores):
        build_store(raw, store, resize_settings(shard_size=20, workers=workers, skip_bad=True), progress=False)
    skipped = json.loads((stores[1] / "index.json").read_text())["skipped"]
    assert [images[3].name in skipped[0], images[45].name in skipped[1]] == [True, True]
    assert _store_files(stores[0]) == _store_files(stores[1])


class _Payload:  # a result that can be watched with a weak reference
    pass


def _payload(_) -> _Payload:
    return _Payload()


@pytest.mark.parametrize("ordered", [True, False])
def test_the_pool_lets_go_of_a_result_once_it_is_yielded(ordered):
    import gc
    import weakref

    refs = []
    for result in map_in_processes(_payload, list(range(6)), workers=2, ordered=ordered):
        refs.append(weakref.ref(result))
        del result
        gc.collect()
        if len(refs) == 4:
            assert refs[0]() is None  # at ImageNet scale a held result is a shard's table, or a PCA batch
    assert len(refs) == 6


def test_reading_the_umask_never_changes_it(monkeypatch):
    from alexnet_repro import atomic

    expected = os.umask(0o022)
    os.umask(expected)
    monkeypatch.setattr(os, "umask", lambda mask: pytest.fail("os.umask was called: another thread could see 0"))
    assert atomic._umask() == expected
