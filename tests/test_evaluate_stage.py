"""The evaluate stage adopts a finished evaluation of the same runs, data, config and code (evaluation/inputs.py)
without importing torch, and evaluates again when any of them, or one of its output files, changed; it pins
torch's CPU threads while it predicts (conf/evaluate.yaml's cpu_threads)."""

import shutil
import subprocess

import pytest
import torch

from alexnet_repro import results
from alexnet_repro.basics import ConfigError
from alexnet_repro.evaluation import run as evaluation_run
from alexnet_repro.evaluation.inputs import evaluation_inputs, why_not_up_to_date
from alexnet_repro.evaluation.run import evaluate
from alexnet_repro.training.run import train
from conftest import PYTHON, ROOT, child_env, compose_evaluate, compose_train, data_overrides

# src/evaluate.py, run so that it says afterwards whether torch was imported.
CLI = "import sys; from alexnet_repro.stages.evaluate import cli; cli(); print('torch imported:', 'torch' in sys.modules)"


@pytest.fixture(scope="module")
def evaluated(tiny_data, tmp_path_factory):
    """One finished tiny run (1 epoch), evaluated: runs/seed0 and results/."""
    root = tmp_path_factory.mktemp("adoption")
    cfg = compose_train(["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=1", "logger=none",
                         "seed=0"])
    train(cfg, root / "runs" / "seed0")
    evaluate(compose_evaluate("x", root / "runs", root / "results", tiny_data["store"]), progress=False)
    return root


@pytest.fixture
def copied(evaluated, tmp_path):
    """The fixture's run and result, copied: folders elsewhere, the same inputs."""
    for name in ("runs", "results"):
        shutil.copytree(evaluated / name, tmp_path / name)
    return tmp_path


def settings(folder, tiny_data, **values):
    return compose_evaluate("x", folder / "runs", folder / "results", tiny_data["store"], **values)


def run_cli(folder, tiny_data, *overrides) -> str:
    args = ["experiment_name=x", f"runs_dir={folder / 'runs'}", f"out_dir={folder / 'results'}",
            f"data.store_dir={tiny_data['store']}", "seeds=[0]", "data=embedded_tiny", "profile_name=tiny",
            "logger=none", "batch_size=16", "workers=0", "features_train_max=0", "features_for=[]", *overrides]
    done = subprocess.run([PYTHON, "-c", CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=child_env())
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_the_stage_adopts_a_finished_evaluation_without_importing_torch(copied, tiny_data):
    result_json = copied / "results" / results.RESULT_JSON
    written = result_json.stat().st_mtime_ns
    out = run_cli(copied, tiny_data)  # the evaluation in-process (a pipeline worker's) counts for the command
    assert "up to date (an evaluation of these runs, data and code): nothing to evaluate" in out, out
    assert "torch imported: False" in out
    assert result_json.stat().st_mtime_ns == written
    # another config value: evaluated again, and that evaluation is adopted in its turn
    out = run_cli(copied, tiny_data, "modes=[center]")
    assert "evaluating (its inputs changed (config))" in out and "torch imported: True" in out, out
    assert list(results.load(copied / "results").top5) == ["center"]
    assert why_not_up_to_date(copied / "results", evaluation_inputs(settings(copied, tiny_data,
                                                                              modes="[center]"))) is None


def test_a_changed_model_config_or_output_makes_it_evaluate_again(copied, tiny_data):
    out, cfg = copied / "results", settings(copied, tiny_data)
    assert why_not_up_to_date(out, evaluation_inputs(cfg)) is None
    assert "config" in why_not_up_to_date(out, evaluation_inputs(settings(copied, tiny_data, modes="[center]")))
    assert "config" in why_not_up_to_date(out, evaluation_inputs(settings(copied, tiny_data, cpu_threads=2)))
    # where files lie, the loader's workers and the device decide nothing
    assert why_not_up_to_date(out, evaluation_inputs(settings(copied, tiny_data, workers=1, device="cpu"))) is None
    (out / results.METRICS_JSON).write_text((out / results.METRICS_JSON).read_text() + "\n")
    assert why_not_up_to_date(out, evaluation_inputs(cfg)) == "metrics.json is missing or changed since"
    (out / results.METRICS_JSON).unlink()
    assert why_not_up_to_date(out, evaluation_inputs(cfg)) == "metrics.json is missing or changed since"
    evaluate(cfg, progress=False)
    assert why_not_up_to_date(out, evaluation_inputs(cfg)) is None
    model = copied / "runs" / "seed0" / "model.pt"
    payload = torch.load(model, weights_only=True)
    weights = payload["state_dict"]
    weights[next(iter(weights))] += 1
    torch.save(payload, model)
    assert why_not_up_to_date(out, evaluation_inputs(cfg)) == "its inputs changed (runs)"


def test_each_seeds_history_is_an_output_and_a_seed_no_longer_asked_for_leaves_no_curve(copied, tiny_data):
    """`dvc plots` drew the first seed alone (results/<experiment>/history.csv); now history/seed<k>.csv each."""
    out, cfg = copied / "results", settings(copied, tiny_data)
    curve = out / results.HISTORY_DIR / "seed0.csv"
    curve.write_text(curve.read_text() + "\n")
    assert why_not_up_to_date(out, evaluation_inputs(cfg)) == "history/seed0.csv is missing or changed since"
    stale = out / results.HISTORY_DIR / "seed7.csv"
    stale.write_text("epoch\n0\n")
    results.write(out, results.load(out), evaluation_inputs(cfg))
    assert sorted(p.name for p in (out / results.HISTORY_DIR).iterdir()) == ["seed0.csv"]
    assert why_not_up_to_date(out, evaluation_inputs(cfg)) is None


def test_a_result_without_recorded_inputs_is_not_adopted(copied, tiny_data):
    out, cfg = copied / "results", settings(copied, tiny_data)
    results.write(out, results.load(out))  # as an evaluation older than the check wrote it
    assert "records no inputs" in why_not_up_to_date(out, evaluation_inputs(cfg))
    shutil.rmtree(out)
    assert why_not_up_to_date(out, evaluation_inputs(cfg)) == "no finished evaluation there"


def test_a_rewrite_cut_short_leaves_no_result_json_to_vouch_for_the_files(copied, tiny_data, monkeypatch):
    out = copied / "results"
    inputs, result = evaluation_inputs(settings(copied, tiny_data)), results.load(out)

    def disk_full(path, data):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(results, "write_json", disk_full)  # metrics.json, after result.npz was replaced
    with pytest.raises(OSError):
        results.write(out, result, inputs)
    assert not (out / results.RESULT_JSON).exists()
    assert why_not_up_to_date(out, inputs) == "no finished evaluation there"


def test_cpu_threads_are_set_while_predicting_and_given_back(copied, tiny_data, monkeypatch):
    before = torch.get_num_threads()
    wanted = 2 if before == 1 else 1
    seen = []

    def predict(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_predict(*args, **kwargs)

    real_predict = evaluation_run.predict
    monkeypatch.setattr(evaluation_run, "predict", predict)
    evaluate(settings(copied, tiny_data, cpu_threads=wanted, device="cpu"), progress=False)
    assert seen and set(seen) == {wanted}
    assert torch.get_num_threads() == before
    with pytest.raises(ConfigError, match="cpu_threads=0"):
        settings(copied, tiny_data, cpu_threads=0)
