"""The package's shape: no import cycles, and each stage imports only what it runs (so dvc.yaml's deps are
short and an edit re-runs exactly the stages it touches)."""

from __future__ import annotations

import subprocess

from alexnet_repro.code_hash import SRC, imported_names, module_file, module_name
from conftest import PYTHON


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (lazy imports included), less its own ancestor packages
    (importing a.b.c runs a/__init__ first: that is not a dependency of a.b.c's code)."""
    graph = {}
    for path in (SRC / "alexnet_repro").rglob("*.py"):
        name = module_name(path)
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = {m for m in imported_names(path) if m != name and m not in ancestors}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(m for m in sys.modules if m.startswith('alexnet_repro')))"
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_a_data_stage_loads_neither_the_model_nor_the_training_schema():
    for statement in ("import alexnet_repro.data.resize", "import alexnet_repro.stages.resize",
                      "import alexnet_repro.stages.pca", "import alexnet_repro.stages.download"):
        loaded = loaded_after(statement)
        assert not {m for m in loaded if m.startswith(("alexnet_repro.models", "alexnet_repro.training"))}, statement
    assert "alexnet_repro.data.generate" not in loaded_after("import alexnet_repro.stages.train")
    assert module_file("alexnet_repro.data.resize") is not None  # the names above exist


def test_the_train_stage_decides_before_loading_torch():
    """A finished run is adopted without torch or Lightning (training/run.py): they load only to train."""
    code = "import sys, alexnet_repro.stages.train; print(sorted({'torch', 'lightning'} & set(sys.modules)))"
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_evaluate_stage_does_not_import_lightning():
    # lightning (-> torchmetrics -> torchvision -> torch._dynamo) is seconds of start-up that evaluation does not
    # need: `dvc repro` runs the stage's command for every experiment, most often only to adopt a finished result.
    code = "import sys; import alexnet_repro.stages.evaluate; print('lightning' in sys.modules)"
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]
