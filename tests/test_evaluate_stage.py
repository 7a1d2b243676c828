"""The evaluate stage: torch's CPU threads pinned while it predicts (conf/evaluate.yaml's cpu_threads)."""

import shutil

import pytest
import torch

from alexnet_repro.basics import ConfigError
from alexnet_repro.evaluation import run as evaluation_run
from alexnet_repro.evaluation.run import evaluate
from alexnet_repro.training.run import train
from conftest import compose_evaluate, compose_train, data_overrides


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
