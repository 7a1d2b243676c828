"""One home per fact (issue 25): each fact below is written once, in its home, and read everywhere else. A test
fails when the fact is spelled a second time in the package's code; where a copy cannot read the home (dvc.yaml,
conf/*.yaml), the test asserts the copy equals it.

The code is read with `ast`: string constants and expressions, never comments or docstrings, which may name a
fact to explain it."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from alexnet_repro import results as R
from alexnet_repro.code_hash import SRC
from alexnet_repro.models import spec
from alexnet_repro.training import resume
from conftest import CONF, ROOT

PACKAGE = SRC / "alexnet_repro"
SOURCES = sorted(PACKAGE.rglob("*.py"))
RESULTS = PACKAGE / "results.py"
MODULE = PACKAGE / "training" / "module.py"


def _docstrings(tree: ast.AST) -> set[int]:
    holders = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {id(node.body[0].value) for node in ast.walk(tree) if isinstance(node, holders) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def _nodes(path: Path) -> Iterator[ast.AST]:
    tree = ast.parse(path.read_text())
    skip = _docstrings(tree)
    return (node for node in ast.walk(tree) if id(node) not in skip)


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE)) if path.is_relative_to(PACKAGE) else path.name


def spelled(matches: Callable[[ast.AST], bool], homes: tuple[Path, ...] = (),
            sources: list[Path] = SOURCES) -> list[str]:
    """'file:line' of every node `matches` accepts outside `homes`."""
    return [f"{_name(path)}:{node.lineno}" for path in sources if path not in homes
            for node in _nodes(path) if matches(node)]


def string(*values: str) -> Callable[[ast.AST], bool]:
    return lambda node: isinstance(node, ast.Constant) and node.value in values


def _names(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


# --- the run-folder template: results.RUN_FOLDER -----------------------------------------------------------------

HYDRA = {"runs": "${paths.runs}", "dataset": "${data.name}", "profile": "${profile_name}",
         "experiment": "${experiment_name}", "seed": "${seed}"}
DVC = {"runs": "runs", "dataset": "${dataset}", "profile": "${profile}", "experiment": "${item.experiment}",
       "seed": "${item.seed}"}


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_the_run_folder_template_is_spelled_once_in_the_code():
    assert spelled(lambda n: isinstance(n, ast.Constant) and isinstance(n.value, str)
                   and re.search(r"seed\{\w*\}", n.value), (RESULTS,)) == []


def test_conf_train_places_each_run_in_the_run_folder():
    sweep = _yaml(CONF / "train.yaml")["hydra"]["sweep"]
    assert f"{sweep['dir']}/{sweep['subdir']}" == R.RUN_FOLDER.format(**HYDRA)
    assert _yaml(CONF / "train.yaml")["hydra"]["run"]["dir"] == "${hydra.sweep.dir}/${hydra.sweep.subdir}"


def test_a_composed_training_config_resolves_to_the_run_folder():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    import alexnet_repro.training.config  # noqa: F401 (registers the train schema)

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["+experiment=no_lrn", "seed=3"], return_hydra_config=True)
    values = {k: OmegaConf.select(cfg, v[2:-1]) for k, v in HYDRA.items()}
    assert cfg.hydra.run.dir == R.RUN_FOLDER.format(**values)
    assert cfg.hydra.run.dir.endswith("/no_lrn/seed3")


def test_conf_evaluate_reads_the_experiment_folder():
    assert _yaml(CONF / "evaluate.yaml")["runs_dir"] == R.EXPERIMENT_FOLDER.format(**HYDRA)


def test_dvc_yaml_names_the_run_folder():
    stages = _yaml(ROOT / "dvc.yaml")["stages"]
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in stages["train"]["outs"]]
    assert R.RUN_FOLDER.format(**DVC) in outs
    deps = stages["evaluate"]["do"]["deps"]
    assert R.EXPERIMENT_FOLDER.format(**{**DVC, "experiment": "${item}"}) in deps
    # Any other copy in dvc.yaml is one of these two.
    prefix = R.EXPERIMENT_FOLDER.format(**{**DVC, "experiment": ""})
    copies = set(re.findall(re.escape(prefix) + r"[^\s:]*", (ROOT / "dvc.yaml").read_text()))
    assert copies <= {R.RUN_FOLDER.format(**DVC), R.EXPERIMENT_FOLDER.format(**{**DVC, "experiment": "${item}"})}


# --- checkpoint names: training/resume.py ---------------------------------------------------------------------

def test_checkpoint_names_are_spelled_once():
    names = (resume.CHECKPOINTS, resume.LAST_CKPT.name, resume.BEST_CKPT.name, resume.BEST)
    assert spelled(string(*names), (PACKAGE / "training" / "resume.py",)) == []


def test_the_best_checkpoint_is_the_file_lightning_writes():
    from lightning.pytorch.callbacks import ModelCheckpoint

    assert resume.BEST_CKPT == Path(resume.CHECKPOINTS) / f"{resume.BEST}{ModelCheckpoint.FILE_EXTENSION}"
    assert resume.LAST_CKPT.parent == resume.BEST_CKPT.parent


# --- a run's files: results.py --------------------------------------------------------------------------------

def test_a_runs_file_names_are_spelled_once():
    assert spelled(string(R.RUN_HISTORY, R.RUN_CONFIG, R.TRAIN_SUMMARY), (RESULTS,)) == []


# --- LRN's alpha' = alpha / n: models/spec.py's lrn_scale ----------------------------------------------------------

def test_lrn_alpha_over_n_is_computed_once():
    divides_alpha = lambda n: (isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)  # noqa: E731
                               and "alpha" in _names(n.left))
    assert spelled(divides_alpha, (PACKAGE / "models" / "spec.py",)) == []
    assert spec.lrn_scale(1e-4, 5, True) == 1e-4 / 5 and spec.lrn_scale(1e-4, 5, False) == 1e-4


# --- the lr floor: training/module.py's lr_floor -------------------------------------------------------------

def test_the_lr_floor_and_its_nudges_are_written_once():
    raises_to_reductions = lambda n: (isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow)  # noqa: E731
                                      and "max_reductions" in _names(n.right))
    nudge = lambda n: (isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub))  # noqa: E731
                       and all(isinstance(side, ast.Constant) for side in (n.left, n.right))
                       and (n.left.value, n.right.value) == (1, 1e-6))
    assert spelled(raises_to_reductions, (MODULE,)) == []
    assert spelled(nudge, (MODULE,)) == []
    assert len(spelled(raises_to_reductions, sources=[MODULE])) == 1  # lr_floor; the nudges call it
    assert len(spelled(nudge, sources=[MODULE])) == 2  # one per purpose: the schedule's min_lr, health's threshold


# --- INITS: models/spec.py ---------------------------------------------------------------------------------------

def test_the_inits_are_listed_once():
    def lists_inits(node: ast.AST) -> bool:
        items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
        words = {i.value for i in items or () if isinstance(i, ast.Constant)}
        return isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)) and set(spec.INITS) <= words

    def names_them_in_words(node: ast.AST) -> bool:
        return isinstance(node, ast.Constant) and isinstance(node.value, str) and all(
            re.search(rf"\b{init}\b", node.value) for init in spec.INITS)

    assert spelled(lists_inits, (PACKAGE / "models" / "spec.py",)) == []
    assert spelled(names_them_in_words) == []
    assert "init\n#   " + "|".join(spec.INITS) in (CONF / "model" / "alexnet.yaml").read_text()  # its comment


# --- metric keys: results.py (history.csv's columns, the selection split's included) -----------------------------

KEYS = (R.TRAIN_LOSS, R.TRAIN_ERR_TOP1, R.SELECTION_ERR_TOP1, *R.LRN_WINDOW_COLUMNS.values())  # each shared key


def test_metric_keys_are_spelled_once():
    found = [f"{where} {key}" for key in KEYS for where in spelled(string(key), (RESULTS,))]
    pieces = spelled(lambda n: isinstance(n, ast.Constant) and n.value in ("_window_mean", "/err_top1"),
                     (RESULTS,))
    assert found + pieces == []
    assert len(spelled(string("/err_top1"), sources=[RESULTS])) == 1  # SELECTION_ERR_TOP1


def test_the_history_columns_and_dvc_plots_use_the_keys():
    from alexnet_repro.training.callbacks import HISTORY_COLUMNS
    from alexnet_repro.training.module import LRN_SITES

    assert set(KEYS) <= set(HISTORY_COLUMNS) and R.LR in HISTORY_COLUMNS
    assert LRN_SITES == tuple(R.LRN_WINDOW_COLUMNS)
    plots = _yaml(ROOT / "dvc.yaml")["stages"]["evaluate"]["do"]["plots"]
    assert [next(iter(p.values()))["y"] for p in plots] == [R.SELECTION_ERR_TOP1]


@pytest.mark.parametrize("copy", ["last.ckpt", "lrn/norm1_window_mean"])
def test_the_finder_finds_a_second_spelling(copy, tmp_path):
    duplicate = tmp_path / "duplicate.py"
    duplicate.write_text(f'"""A docstring may say {copy}."""\nPATH = "{copy}"  # so may a comment: {copy}\n')
    assert spelled(string(copy), sources=[duplicate]) == ["duplicate.py:2"]
