"""Run folders: deterministic, resumed when the config matches, never overwritten (issue: ImageNet at scale)."""

import copy
import json
from pathlib import Path

import pytest
import torch

from alexnet_repro.results import TRAIN_SUMMARY, finished_runs
from alexnet_repro.training import resume

RESOLVED = {"model": {"width": 0.25}, "optim": {"lr": 0.01}, "paths": {"root": "/a"}, "seed": 0,
            "fresh_start": False, "data": {"name": "embedded", "store_dir": "/a/data", "workers": 2, "decoder": "cpu"},
            "logger": {"mode": "offline"},
            "trainer": {"max_epochs": 8, "enable_progress_bar": True, "checkpoint_every_minutes": None,
                        "channels_last": False, "compile": False, "compile_mode": "default"}}


def config(**changes) -> dict:
    cfg = copy.deepcopy(RESOLVED)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = cfg
        for key in parents:
            node = node[key]
        node[leaf] = value
    return resume.run_config(cfg, "store1")


def fingerprint(**changes) -> str:
    return resume.fingerprint_of(config(**changes))


def test_the_fingerprint_ignores_paths_logging_and_loader_settings_but_not_what_is_trained():
    same = fingerprint()
    assert fingerprint(paths__root="/elsewhere", data__store_dir="/b", data__workers=0) == same
    assert fingerprint(logger__mode="online", trainer__enable_progress_bar=False) == same
    # a run started with fresh_start=true and killed resumes without it; speed and saving settings may change
    assert fingerprint(fresh_start=True, trainer__checkpoint_every_minutes=30.0, data__decoder="dali") == same
    assert fingerprint(trainer__channels_last=True, trainer__compile=True, trainer__compile_mode="max-autotune") == same
    assert fingerprint(optim__lr=0.02) != same
    assert fingerprint(trainer__max_epochs=9) != same
    assert resume.fingerprint_of(resume.run_config(RESOLVED, "store2")) != same  # other data, other run


def killed_run(run: Path, cfg: dict) -> None:
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"state": 1}, run / "checkpoints" / "last.ckpt")  # a readable checkpoint: resume checks it
    (run / resume.FINGERPRINT).write_text(json.dumps({"fingerprint": resume.fingerprint_of(cfg), "config": cfg}))


def test_an_empty_folder_starts_fresh_and_records_its_config(tmp_path):
    run = tmp_path / "baseline" / "seed0"
    assert resume.prepare(run, config()).checkpoint is None
    stored = json.loads((run / resume.FINGERPRINT).read_text())
    assert stored == {"fingerprint": fingerprint(), "config": config(), "code": ""}


def finished_run(run: Path, cfg: dict, code: str) -> None:
    killed_run(run, cfg)
    (run / resume.FINGERPRINT).write_text(json.dumps({"fingerprint": resume.fingerprint_of(cfg), "config": cfg,
                                                      "code": code}))
    (run / TRAIN_SUMMARY).write_text(json.dumps({"seed": 0, "done": True}))


def test_a_finished_run_of_the_same_config_data_and_code_is_adopted_not_trained_again(tmp_path):
    run = tmp_path / "baseline" / "seed0"
    finished_run(run, config(), code="c1")
    start = resume.prepare(run, config(), code="c1")
    assert start.adopted == {"seed": 0, "done": True} and start.checkpoint is None
    assert not (tmp_path / "baseline" / resume.REPLACED).exists()  # nothing moved


@pytest.mark.parametrize("other", ["code", "config", "fresh_start"])
def test_a_finished_run_of_other_code_or_config_is_set_aside(tmp_path, other):
    run = tmp_path / "baseline" / "seed0"
    finished_run(run, config(), code="c1")
    cfg = config(optim__lr=0.02) if other == "config" else config()
    start = resume.prepare(run, cfg, code="c2" if other == "code" else "c1", fresh_start=other == "fresh_start")
    assert start.adopted is None and start.checkpoint is None
    assert (tmp_path / "baseline" / resume.REPLACED / "seed0-1" / TRAIN_SUMMARY).exists()


def test_a_killed_run_with_the_same_config_resumes_from_its_last_checkpoint(tmp_path):
    run = tmp_path / "baseline" / "seed0"
    killed_run(run, config())
    assert resume.prepare(run, config()).checkpoint == run / "checkpoints" / "last.ckpt"
    assert torch.load(run / "checkpoints" / "last.ckpt") == {"state": 1}


def test_a_killed_run_of_another_config_stops_naming_the_keys_unless_asked_to_start_fresh(tmp_path):
    run = tmp_path / "baseline" / "seed0"
    killed_run(run, config())
    with pytest.raises(resume.ConfigChanged, match=r"optim\.lr: 0\.01 -> 0\.02.*fresh_start=true"):
        resume.prepare(run, config(optim__lr=0.02))
    assert (run / "checkpoints" / "last.ckpt").exists()  # untouched
    assert resume.prepare(run, config(optim__lr=0.02), fresh_start=True).checkpoint is None
    assert (tmp_path / "baseline" / resume.REPLACED / "seed0-1" / "checkpoints" / "last.ckpt").exists()


@pytest.mark.parametrize("case", ["finished", "no checkpoint", "foreign files"])
def test_anything_else_is_moved_aside_not_deleted_and_training_starts_fresh(tmp_path, case):
    run = tmp_path / "baseline" / "seed0"
    killed_run(run, config())
    if case == "finished":
        (run / TRAIN_SUMMARY).write_text("{}")
    if case == "no checkpoint":
        (run / "checkpoints" / "last.ckpt").unlink()
    if case == "foreign files":
        (run / resume.FINGERPRINT).unlink()
    assert resume.prepare(run, config()).checkpoint is None
    kept = tmp_path / "baseline" / resume.REPLACED / "seed0-1"
    assert kept.is_dir() and (kept / "checkpoints").is_dir()  # nothing lost
    assert sorted(p.name for p in run.iterdir()) == [resume.FINGERPRINT]
    (run / TRAIN_SUMMARY).write_text("{}")  # finished again, then started with other training code:
    resume.prepare(run, config(), code="edited")  # a second replacement gets the next number
    assert (tmp_path / "baseline" / resume.REPLACED / "seed0-2").is_dir()


def test_other_ranks_decide_the_same_and_change_nothing(tmp_path):
    run = tmp_path / "baseline" / "seed0"
    killed_run(run, config())
    assert resume.prepare(run, config(), rank_zero=False).checkpoint == run / "checkpoints" / "last.ckpt"
    (run / TRAIN_SUMMARY).write_text("{}")
    assert resume.prepare(run, config(), rank_zero=False).checkpoint is None  # fresh, like rank zero...
    assert (run / TRAIN_SUMMARY).exists()  # ...but only rank zero moves files


def test_evaluate_takes_the_seeds_asked_for_and_lists_the_others():
    """Seed folders of seeds the pipeline did not ask for (trained by hand, or left after `seeds` shrank) and
    unfinished ones are listed, never evaluated."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, done in (("seed0", True), ("seed2", True), ("seed1", False), ("seed10", True)):
            (root / name).mkdir()
            if done:
                (root / name / TRAIN_SUMMARY).write_text(json.dumps({"model": "model.pt", "model_last": "m.pt"}))
        (root / resume.REPLACED / "seed0-1").mkdir(parents=True)
        records, notes = finished_runs(root, [0, 1, 2])
        assert [r.name for r in records] == ["seed0", "seed2"]
        assert records[0].model() == root / "seed0" / "model.pt" and records[0].model(last=True).name == "m.pt"
        assert notes == ["seed1: not finished, left out", "seed10: not among the seeds asked for [0, 1, 2], ignored"]


def test_provenance_ignores_what_the_pipeline_itself_rewrites(tmp_path, monkeypatch):
    """results/, reports/ and dvc.lock change when the pipeline runs: that does not make the code dirty."""
    import subprocess

    from alexnet_repro import provenance

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    for name in ("code.py", "dvc.lock", "results/a.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "x")
    monkeypatch.setattr(provenance, "PROJECT_ROOT", tmp_path)
    (tmp_path / "dvc.lock").write_text("2")
    (tmp_path / "results" / "a.json").write_text("2")
    assert "uncommitted" not in provenance.git_commit()
    (tmp_path / "code.py").write_text("2")
    assert provenance.git_commit().endswith("(with uncommitted changes)")


def test_a_recorded_config_holds_no_paths_so_results_do_not_depend_on_the_checkout():
    from alexnet_repro.results import recorded_config

    recorded = recorded_config(RESOLVED)
    assert "paths" not in recorded and "logger" not in recorded and "store_dir" not in recorded["data"]
    assert recorded["model"] == RESOLVED["model"] and recorded["data"]["name"] == "embedded"
    assert RESOLVED["paths"] == {"root": "/a"}  # a copy: the caller's config is untouched
