"""README's front page stays a front page: the two commands and the where-to-change-what map on the first screen,
lines a terminal shows whole, and no path in the map that has moved away."""

from __future__ import annotations

import re

from conftest import ROOT

README = (ROOT / "README.md").read_text().splitlines()
FIRST_SCREEN = 40
MAX_LINE = 120


def _map_rows() -> list[str]:
    start = README.index("| to change | edit |")
    rows = []
    for line in README[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_the_two_commands_and_the_map_are_on_the_first_screen():
    first = "\n".join(README[:FIRST_SCREEN])
    assert "make run" in first and "make test" in first
    assert README.index("| to change | edit |") + 2 + len(_map_rows()) <= FIRST_SCREEN


def test_the_map_covers_what_a_newcomer_changes_first():
    wanted = ("LRN", "lr schedule", "new ablation", "dataset", "report section")
    rows = " ".join(row.split("|")[1] for row in _map_rows())
    assert all(item in rows for item in wanted), [item for item in wanted if item not in rows]


def test_every_file_the_map_names_exists():
    named = [p for row in _map_rows() for p in re.findall(r"`([\w./<>-]+\.(?:py|yaml))`", row.split("|")[2])]
    assert named
    missing = []
    for path in named:
        candidates = [ROOT / path, ROOT / "src" / "alexnet_repro" / path]
        if "<" in path:
            candidates = [c.parent for c in candidates]  # a template: its folder must exist
        if not any(c.exists() for c in candidates):
            missing.append(path)
    assert not missing, missing


def test_no_line_runs_past_120_characters():
    long = [f"README.md:{n} ({len(line)})" for n, line in enumerate(README, 1) if len(line) > MAX_LINE]
    assert not long, long
