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


def test_every_torch_load_in_the_project_asks_for_weights_only():
    """torch's own default is weights_only=True from 2.6, but an explicit False (or an older torch) unpickles code;
    the benchmarks read only their own files, yet what a cluster user runs must not be the exception."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    loose = []
    for path in [*root.joinpath("src").rglob("*.py"), *root.joinpath("bench").rglob("*.py"),
                 *root.joinpath("notebooks").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                    and getattr(node.func.value, "id", None) == "torch":
                kw = {k.arg: k.value for k in node.keywords}
                if not (isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
                    loose.append(f"{path.relative_to(root)}:{node.lineno}")
    assert loose == []
