"""Faults of the set-up and the entry points' start: a half-made venv, a run folder that cannot be made."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import PYTHON, ROOT

FAKE_PYTHON = """#!/bin/sh
# stands in for python3: `-m venv DIR` makes a venv whose pip records what it is asked to do
echo "$@" >> "$(dirname "$0")/python.log"
mkdir -p "$3/bin"
printf '#!/bin/sh\\necho "$@" >> "%s/pip.log"\\n' "$(dirname "$0")" > "$3/bin/pip"
chmod +x "$3/bin/pip"
"""


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_setup_rebuilds_a_venv_left_half_made(tmp_path):
    """`test -d .venv` took a venv interrupted before pip was installed for a whole one: every later
    `make setup` failed with `.venv/bin/pip: not found`."""
    shutil.copyfile(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    shutil.copyfile(ROOT / "constraints.txt", tmp_path / "constraints.txt")
    fake = tmp_path / "fake" / "python3"
    fake.parent.mkdir()
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)  # what Ctrl-C during `python3 -m venv` leaves
    (tmp_path / ".venv" / "bin" / "python").write_text("")
    done = subprocess.run(["make", "setup", f"PYTHON={fake}"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "fake" / "python.log").read_text() == "-m venv .venv\n"
    assert (tmp_path / "fake" / "pip.log").read_text() == "install --quiet --no-compile -c constraints.txt -e .\n"
    assert (tmp_path / ".venv" / ".installed").exists() and not (tmp_path / ".venv" / "bin" / "python").exists()
    again = subprocess.run(["make", "setup", f"PYTHON={fake}"], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout  # a whole venv is kept
    assert (tmp_path / "fake" / "python.log").read_text() == "-m venv .venv\n"  # not made again


def test_a_run_folder_that_cannot_be_made_is_one_line_naming_it(tmp_path):
    """Hydra makes the run folder before the task starts; its traceback was cut to
    `error: Traceback (most recent call last):`, the cause hidden."""
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    args = [PYTHON, "src/train.py", "logger=none", f"paths.runs={blocker}"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: NotADirectoryError: ")
    assert f"'{blocker}/" in done.stderr
