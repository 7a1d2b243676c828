"""The cross-machine check compares per-seed errors within their spread; it never demands equality."""

import json
import subprocess

import pytest

from alexnet_repro import reproducibility as R


def metrics(errors, mode="ten_crop"):
    return {"per_seed": {f"seed{i}": {mode: {"err_top1": e}} for i, e in enumerate(errors)}}


def test_equal_numbers_are_identical_and_drift_within_the_spread_agrees():
    assert R.compare("a", [0.27, 0.29, 0.28], [0.27, 0.29, 0.28]).equal
    near = R.compare("a", [0.29, 0.31, 0.28], [0.27, 0.29, 0.28])
    assert near.agrees and not near.equal and near.p_value > 0.05
    far = R.compare("a", [0.60, 0.61, 0.62], [0.27, 0.29, 0.28])
    assert not far.agrees and far.p_value < 0.05


def test_the_cli_reads_the_committed_results_from_git(tmp_path, monkeypatch, capsys):
    repo = tmp_path
    (repo / "results" / "baseline").mkdir(parents=True)
    path = repo / "results" / "baseline" / "metrics.json"
    path.write_text(json.dumps(metrics([0.27, 0.29, 0.28])))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"]):
        subprocess.run(cmd, cwd=repo, check=True, capture_output=True)
    monkeypatch.setattr(R, "PROJECT_ROOT", repo)
    path.write_text(json.dumps(metrics([0.61, 0.62, 0.60])))  # a run far from the committed one
    assert R.main(["--results", str(repo / "results")]) == 1
    assert "OUTSIDE the seed spread" in capsys.readouterr().out
    path.write_text(json.dumps(metrics([0.28, 0.30, 0.27])))
    assert R.main(["--results", str(repo / "results")]) == 0


def test_results_scored_on_the_centre_only_are_compared_there(tmp_path, monkeypatch, capsys):
    """A result evaluated on the centre patch only (`modes=[center]`): make compare reads it there (it raised
    KeyError 'ten_crop' on such results), and a folder outside the repository is one line, not a traceback."""
    repo = tmp_path / "repo"
    (repo / "results" / "centre_only").mkdir(parents=True)
    path = repo / "results" / "centre_only" / "metrics.json"
    path.write_text(json.dumps(metrics([0.41], mode="center")))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"]):
        subprocess.run(cmd, cwd=repo, check=True, capture_output=True)
    monkeypatch.setattr(R, "PROJECT_ROOT", repo)
    assert R.main(["--results", str(repo / "results")]) == 0
    assert "identical" in capsys.readouterr().out
    (tmp_path / "elsewhere" / "x").mkdir(parents=True)
    (tmp_path / "elsewhere" / "x" / "metrics.json").write_text(json.dumps(metrics([0.4])))
    with pytest.raises(SystemExit, match="outside this repository"):
        R.main(["--results", str(tmp_path / "elsewhere")])
