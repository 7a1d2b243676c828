"""The code's shape, as issue 25 fixed it: functions short enough to read at once, and records built with keyword
arguments (a 16-argument positional call breaks silently when a field is added in the middle)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from alexnet_repro.code_hash import SRC

MAX_FUNCTION_LINES = 50
MAX_POSITIONAL_RECORD_ARGS = 5
SOURCES = sorted(SRC.rglob("*.py"))


def _records() -> set[str]:
    """Every class the project defines: its records (dataclasses, NamedTuples) and its objects (presets, layers)."""
    return {node.name for path in SOURCES for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ClassDef)}


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(SRC.parent)}:{node.lineno}"


def test_the_record_finder_sees_the_projects_records():
    records = _records()
    assert {"ExperimentResult", "Job", "TrainPreset", "AblationRow"} <= records, sorted(records)


def test_no_record_is_built_from_more_than_five_positional_arguments():
    records = _records()
    offenders = [f"{_where(path, node)} {_called_name(node)}({len(node.args)} positional)"
                 for path in SOURCES for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Call) and _called_name(node) in records
                 and len(node.args) > MAX_POSITIONAL_RECORD_ARGS]
    assert not offenders, offenders


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_function_runs_past_fifty_lines(path):
    long = [f"{_where(path, node)} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, long
