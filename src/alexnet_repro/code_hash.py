"""The code a stage runs, as one hash: the package modules its entry module imports, followed transitively
(with `ast`, lazy imports included), hashed by content. A finished run whose config, data and training code
all match is adopted rather than trained again (training/resume.py), and so is a finished evaluation
(evaluation/inputs.py); tests/test_dvc_stages.py checks that dvc.yaml's deps name the same files."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = "alexnet_repro"
SRC = Path(__file__).resolve().parents[1]  # src/
TRAINING_ENTRY = "alexnet_repro.stages.train"  # the code a finished run's adoption fingerprint covers


def module_file(name: str) -> Path | None:
    """`alexnet_repro.data.store` -> src/alexnet_repro/data/store.py (or .../store/__init__.py); None if none."""
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_statements(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every import in `path`, anywhere in the file; relative imports made absolute.
    `import a.b` gives ("a.b", []), `from a.b import c, d` gives ("a.b", ["c", "d"])."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path) if path.is_relative_to(SRC) else ""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: against this module's package
                package = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            found.append((base, [alias.name for alias in node.names]))
    return found


def in_package(name: str) -> bool:
    return name.split(".")[0] == PACKAGE


def imported_names(path: Path) -> set[str]:
    """The package's modules that `path` imports: `from pkg import y` counts pkg.y when y is a submodule, and
    importing a.b.c counts a and a.b, whose __init__.py run first."""
    names = set()
    for base, aliases in import_statements(path):
        names.add(base)
        names.update(f"{base}.{alias}" for alias in aliases)
    inside = set()
    for name in filter(in_package, names):
        parts = name.split(".")
        inside.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {n for n in inside if module_file(n) is not None}


def closure(start: Path) -> set[Path]:
    """`start` and every package module file it runs, transitively."""
    seen: set[Path] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(module_file(name) for name in imported_names(path))
    return seen


def code_fingerprint(entry: str) -> str:
    """sha256 (16 hex digits) of the files `entry` (a module name) runs, by path within src/ and content."""
    digest = hashlib.sha256()
    for path in sorted(closure(module_file(entry))):
        digest.update(str(path.relative_to(SRC)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
