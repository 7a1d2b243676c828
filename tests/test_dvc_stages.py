"""dvc.yaml tells the truth: every stage's `deps` name the package code its script runs, and its `params` the
config keys it reads.

The code a stage runs is derived here, never listed: from the `src/<stage>.py` in the stage's `cmd`, the
`alexnet_repro` imports are followed (with `ast`, transitively) through src/alexnet_repro/. Every module file
reached must be covered by a dep (the file itself or a folder above it). A package's `__init__.py` counts only
when it holds code beyond a docstring, imports and `__all__` (its imports are followed either way)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from alexnet_repro.code_hash import PACKAGE, closure, import_statements, imported_names, in_package, module_file
from conftest import ROOT

SRC = ROOT / "src"
SCRIPT = re.compile(r"(?<![\w/])(src/[\w/]+\.py)\b")
VAR = re.compile(r"\$\{\s*([\w.]+)\s*\}")


# --- dvc.yaml ------------------------------------------------------------------------------------------------

def load_stages(path: Path = ROOT / "dvc.yaml") -> dict[str, dict]:
    """Stage name -> body; a `foreach`/`do` stage is its `do` body (its paths still hold `${item}`)."""
    stages = yaml.safe_load(path.read_text())["stages"]
    return {name: (body["do"] if "foreach" in body else body) for name, body in stages.items()}


def dep_paths(stage: dict) -> list[str]:
    return [next(iter(d)) if isinstance(d, dict) else d for d in stage.get("deps", [])]


def script_of(stage_name: str, stage: dict) -> Path:
    found = SCRIPT.findall(" ".join(stage["cmd"]) if isinstance(stage["cmd"], list) else stage["cmd"])
    assert len(found) == 1, f"stage {stage_name}: expected one src/*.py script in its cmd, found {found}"
    return ROOT / found[0]


# --- the imports a script runs ---------------------------------------------------------------------------------

def unresolved_imports(path: Path) -> list[str]:
    """Package modules that `path` imports but that do not exist under src/ (a broken import, or a walker
    that no longer understands the layout)."""
    return sorted({base for base, _ in import_statements(path) if in_package(base) and module_file(base) is None})


def is_trivial_init(path: Path) -> bool:
    """An __init__.py with nothing but a docstring, imports and `__all__`: no code of its own."""
    if path.name != "__init__.py":
        return False
    for i, node in enumerate(ast.parse(path.read_text()).body):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                continue
        return False
    return True


def required_files(script: Path) -> set[Path]:
    """The script and every package module file it runs, transitively (trivial __init__.py files left out)."""
    return {p for p in closure(script) if not is_trivial_init(p)}


def covers(dep: str, path: Path) -> bool:
    target = (ROOT / dep).resolve()
    return path.resolve() == target or target in path.resolve().parents


def missing_deps(script: Path, deps: list[str]) -> list[str]:
    """The files the script runs that no dep covers, relative to the repository."""
    return sorted(str(p.relative_to(ROOT)) for p in required_files(script)
                  if not any(covers(d, p) for d in deps))


def stale_deps(script: Path, deps: list[str]) -> list[str]:
    """Code deps (under src/) that do not exist or cover none of the files the script runs."""
    needed = required_files(script)
    return [d for d in deps if d.startswith("src/")
            and (not (ROOT / d).exists() or not any(covers(d, p) for p in needed))]


# --- params ----------------------------------------------------------------------------------------------------

def pipeline_vars() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def resolve(text: str, variables: dict) -> str:
    def value(match):
        out = variables
        for key in match.group(1).split("."):
            out = out[key]
        return str(out)
    return VAR.sub(value, text)


def params_of(stage: dict) -> list[tuple[str, str | None]]:
    """(file, key) pairs; key None = every param in the file; a bare name is a key of params.yaml."""
    pairs = []
    for entry in stage.get("params") or []:
        if isinstance(entry, str):
            pairs.append(("params.yaml", entry))
        else:
            for file, keys in entry.items():
                pairs.extend([(file, k) for k in keys] if keys else [(file, None)])
    return pairs


def has_key(tree, dotted: str) -> bool:
    for key in dotted.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return False
        tree = tree[key]
    return True


def instances(name: str) -> list[tuple[str, dict]]:
    """(stage instance, interpolation variables) for every instance of a stage, with params.yaml's values."""
    body = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][name]
    variables = pipeline_vars()
    if "matrix" in body:  # train@<experiment>-<seed>: every combination of the matrix's lists
        axes = {axis: resolve_foreach(values, variables) for axis, values in body["matrix"].items()}
        combos = [{}]
        for axis, values in axes.items():
            combos = [{**c, axis: v} for c in combos for v in values]
        return [(f"{name}@{'-'.join(str(v) for v in c.values())}", {**variables, "item": c}) for c in combos]
    if "foreach" not in body:
        return [(name, variables)]
    items = resolve_foreach(body["foreach"], variables)
    if isinstance(items, dict):
        return [(f"{name}@{key}", {**variables, "key": key, "item": item}) for key, item in items.items()]
    return [(f"{name}@{item}", {**variables, "item": item}) for item in items]


def resolve_foreach(foreach, variables):
    if isinstance(foreach, str):
        match = VAR.fullmatch(foreach.strip())
        assert match, f"foreach {foreach!r} is not a single ${{...}} reference"
        out = variables
        for key in match.group(1).split("."):
            out = out[key]
        return out
    return foreach


# --- tests -----------------------------------------------------------------------------------------------------

STAGES = load_stages()


@pytest.mark.parametrize("name", sorted(STAGES))
def test_deps_cover_every_module_the_script_imports(name):
    stage = STAGES[name]
    script = script_of(name, stage)
    assert script.is_file(), f"stage {name}: its script {script.relative_to(ROOT)} does not exist"
    assert any(module_file(n) for n in imported_names(script)), \
        f"stage {name}: {script.name} imports nothing from {PACKAGE}; is the import walker broken?"
    broken = {str(p.relative_to(ROOT)): unresolved_imports(p) for p in required_files(script)}
    broken = {file: names for file, names in broken.items() if names}
    assert not broken, f"stage {name}: imports of {PACKAGE} modules that do not exist: {broken}"
    missing = missing_deps(script, dep_paths(stage))
    assert not missing, f"stage {name}: deps in dvc.yaml lack the code its script runs: {missing}"
    stale = stale_deps(script, dep_paths(stage))
    assert not stale, f"stage {name}: code deps that are missing or that {script.name} never imports: {stale}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_the_check_fails_when_a_module_is_left_out(name):
    """Remove each required module from a copy of the stage's deps (a folder dep is replaced by its other
    files): the checker must report exactly that module."""
    stage = STAGES[name]
    script = script_of(name, stage)
    deps = dep_paths(stage)
    required = sorted(required_files(script) - {script})
    assert required, f"stage {name}: found no package module in {script.name}'s imports"
    already = missing_deps(script, deps)  # empty when the first test passes; kept apart from this one
    for victim in required:
        copy = []
        for d in deps:
            if not covers(d, victim):
                copy.append(d)
            elif (ROOT / d).is_dir():
                copy.extend(str(p.relative_to(ROOT)) for p in sorted((ROOT / d).rglob("*.py")) if p != victim)
        assert missing_deps(script, copy) == sorted({*already, str(victim.relative_to(ROOT))}), \
            f"stage {name}: the checker did not notice {victim.relative_to(ROOT)} missing from deps"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_params_name_keys_that_exist(name):
    assert STAGES[name].get("params"), f"stage {name}: no params in dvc.yaml"
    for instance, variables in instances(name):
        for file, key in params_of(STAGES[name]):
            path = ROOT / resolve(file, variables)
            assert path.is_file(), f"stage {instance}: params file {path.relative_to(ROOT)} does not exist"
            if key is not None:
                assert has_key(yaml.safe_load(path.read_text()), key), \
                    f"stage {instance}: param {key!r} is not in {path.relative_to(ROOT)}"


def test_report_depends_on_results_not_runs():
    deps = [d.rstrip("/") for d in dep_paths(STAGES["report"])]
    assert "results" in deps
    assert not [d for d in deps if d == "runs" or d.startswith("runs/")], f"report deps name runs/: {deps}"


@pytest.mark.parametrize("edited, stages", [
    ("src/alexnet_repro/models/alexnet.py", ("download", "resize", "pca")),  # the net: no data stage
    ("src/alexnet_repro/data/generate.py", ("train", "evaluate", "report")),  # the generator: no training
    ("src/alexnet_repro/report/render.py", ("download", "resize", "pca", "train", "figure1_cifar", "lrn_cifar",
                                            "evaluate")),
])
def test_an_edit_reaches_only_the_stages_that_run_it(edited, stages):
    """Issue 16: with dataset=imagenet, editing the generated dataset's code must not re-train 24 runs, and editing
    the net must not re-run resize and PCA. DVC re-runs a stage when a dep changes: no dep may cover the file."""
    all_stages = load_stages()
    for name in stages:
        covering = [d for d in dep_paths(all_stages[name]) if covers(d, ROOT / edited)]
        assert not covering, f"stage {name} depends on {edited} through {covering}"


def test_a_committed_result_is_its_stages_only_output():
    """figure1_cifar's result is committed and adopted in a fresh clone, which has none of the stage's run folders:
    were those an output too, recording the adopted stage fails (`output 'runs/...' does not exist`, the fresh-clone
    `make run` of 22d5082)."""
    outs = load_stages()["figure1_cifar"]["outs"]
    assert [next(iter(o)) if isinstance(o, dict) else o for o in outs] == ["results/figure1-${item}.json"]
