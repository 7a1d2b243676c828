"""Run folders: deterministic, resumed when the config matches, never overwritten (issue: ImageNet at scale)."""

from pathlib import Path

import pytest

from alexnet_repro.evaluation.run import find_models
from alexnet_repro.results import TRAIN_SUMMARY
from alexnet_repro.training import resume

RESOLVED = {"model": {"width": 0.25}, "optim": {"lr": 0.01}, "paths": {"root": "/a"}, "seed": 0,
            "data": {"name": "embedded", "store_dir": "/a/data", "workers": 2}, "logger": {"mode": "offline"},
            "trainer": {"max_epochs": 8, "enable_progress_bar": True}}


def fingerprint(**changes) -> str:
    import copy
    cfg = copy.deepcopy(RESOLVED)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = cfg
        for key in parents:
            node = node[key]
        node[leaf] = value
    return resume.config_fingerprint(cfg, "store1")


def test_the_fingerprint_ignores_paths_logging_and_loader_settings_but_not_what_is_trained():
    same = fingerprint()
    assert fingerprint(paths__root="/elsewhere", data__store_dir="/b", data__workers=0) == same
    assert fingerprint(logger__mode="online", trainer__enable_progress_bar=False) == same
    assert fingerprint(optim__lr=0.02) != same
    assert fingerprint(trainer__max_epochs=9) != same
    assert resume.config_fingerprint(RESOLVED, "store2") != same  # other data, other run


def killed_run(run: Path, fp: str) -> None:
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"state")
    (run / resume.FINGERPRINT).write_text(fp + "\n")


def test_an_empty_folder_starts_fresh_and_records_its_fingerprint(tmp_path):
    run = tmp_path / "baseline" / "seed0"
    assert resume.prepare(run, "abc") is None
    assert (run / resume.FINGERPRINT).read_text().strip() == "abc"


def test_a_killed_run_with_the_same_config_resumes_from_its_last_checkpoint(tmp_path):
    run = tmp_path / "baseline" / "seed0"
    killed_run(run, "abc")
    assert resume.prepare(run, "abc") == run / "checkpoints" / "last.ckpt"
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == b"state"


@pytest.mark.parametrize("case", ["other config", "finished", "no checkpoint", "foreign files"])
def test_anything_else_is_moved_aside_not_deleted_and_training_starts_fresh(tmp_path, case):
    run = tmp_path / "baseline" / "seed0"
    killed_run(run, "old" if case == "other config" else "abc")
    if case == "finished":
        (run / TRAIN_SUMMARY).write_text("{}")
    if case == "no checkpoint":
        (run / "checkpoints" / "last.ckpt").unlink()
    if case == "foreign files":
        (run / resume.FINGERPRINT).unlink()
    assert resume.prepare(run, "abc") is None
    kept = tmp_path / "baseline" / resume.REPLACED / "seed0-1"
    assert kept.is_dir() and (kept / "checkpoints").is_dir()  # nothing lost
    assert sorted(p.name for p in run.iterdir()) == [resume.FINGERPRINT]
    killed_run(tmp_path / "x", "x")  # a second replacement gets the next number
    (run / "note").write_text("")
    resume.prepare(run, "other")
    assert (tmp_path / "baseline" / resume.REPLACED / "seed0-2").is_dir()


def test_other_ranks_decide_the_same_and_change_nothing(tmp_path):
    run = tmp_path / "baseline" / "seed0"
    killed_run(run, "abc")
    assert resume.prepare(run, "abc", rank_zero=False) == run / "checkpoints" / "last.ckpt"
    (run / TRAIN_SUMMARY).write_text("{}")
    assert resume.prepare(run, "abc", rank_zero=False) is None  # fresh, like rank zero...
    assert (run / TRAIN_SUMMARY).exists()  # ...but only rank zero moves files


def test_evaluate_takes_finished_seed_folders_only(tmp_path, caplog):
    for name, done in (("seed0", True), ("seed2", True), ("seed1", False), ("seed10", True)):
        run = tmp_path / name
        run.mkdir()
        (run / "model.pt").write_bytes(b"")
        if done:
            (run / TRAIN_SUMMARY).write_text("{}")
    (tmp_path / resume.REPLACED / "seed0-1").mkdir(parents=True)
    found = find_models(tmp_path)
    assert list(found) == ["seed0", "seed2", "seed10"]  # numeric order; the killed seed1 and replaced/ left out
    assert "seed1 not finished" in caplog.text
