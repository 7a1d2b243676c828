"""A model file is something a user downloads: loading one must never run code (issue 24). torch.load with
weights_only=True refuses every global but tensors and plain containers, so a pickle's __reduce__ never runs."""

import os

import pytest
import torch

from alexnet_repro.export import ExportError, load_model
from alexnet_repro.training.run import train
from conftest import compose_train, data_overrides


class RunsCode:
    """Unpickling this calls os.system: what a hostile model file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def hostile_model(path, marker):
    torch.save({"format": 2, "model": {}, "state_dict": {}, "payload": RunsCode(marker)}, path)
    return path


def one_line_naming(err, path) -> bool:
    text = str(err.value)
    return "\n" not in text and str(path) in text and "never unpickled" in text


def test_load_model_runs_nothing_from_a_hostile_file(tmp_path):
    marker = tmp_path / "ran"
    path = hostile_model(tmp_path / "model.pt", marker)
    with pytest.raises(ExportError) as err:
        load_model(path)
    assert one_line_naming(err, path)
    assert not marker.exists()


def test_init_from_a_hostile_file_runs_nothing(tiny_data, tmp_path):
    marker = tmp_path / "ran"
    path = hostile_model(tmp_path / "downloaded.pt", marker)
    cfg = compose_train(["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=1", "logger=none",
                         f"init_from={path}"])
    with pytest.raises(ExportError) as err:
        train(cfg, tmp_path / "run")
    assert one_line_naming(err, path)
    assert not marker.exists()


def test_a_lightning_checkpoint_handed_as_ckpt_path_runs_nothing(tiny_data, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "payload": RunsCode(marker)}, path)
    cfg = compose_train(["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=1", "logger=none",
                         f"ckpt_path={path}"])
    with pytest.raises(Exception):  # noqa: B017  Lightning's own error; what matters is that nothing ran
        train(cfg, tmp_path / "run")
    assert not marker.exists()
