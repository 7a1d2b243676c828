"""How every entry point starts and fails: one log format, and a user error (a bad config value, missing data,
a bad file) is one line on stderr naming the key or file, exit code 2. HYDRA_FULL_ERROR=1 shows tracebacks."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager

from alexnet_repro.basics import PROJECT_ROOT, ConfigError

CONFIG_DIR = str(PROJECT_ROOT / "conf")
USER_ERRORS = (ConfigError, FileNotFoundError, ValueError, OSError)  # CheckpointError is a ValueError
USAGE_EXIT = 2  # argparse's code for "you asked for something impossible"
log = logging.getLogger("alexnet_repro")

_task_started = False


class _HeldStderr:
    """Stands in for stderr until the task starts: Hydra's composition errors are several lines long, and a
    user who mistyped a key needs one. Once released it forwards everything, held text first."""

    def __init__(self, real):
        self.real, self.held, self.released = real, [], False

    def write(self, text: str) -> int:
        if self.released:
            return self.real.write(text)
        self.held.append(text)
        return len(text)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.real.write("".join(self.held))

    def first_line(self) -> str:
        lines = [line.strip() for line in "".join(self.held).splitlines() if line.strip()]
        if lines and lines[0].startswith("Traceback"):  # Hydra failed outside composition (making the run folder):
            lines = [line for line in lines if ": " in line and not line.startswith(("File ", "Set the "))][-1:]
        if len(lines) > 1 and lines[0].endswith(":"):  # "In 'experiment/x': ConfigKeyError raised ...:" + the key
            return f"{lines[0]} {lines[1]}"
        if not lines:
            return "the configuration could not be composed"
        # Hydra's way out, when it gives one: a new key in a dict (data.source.md5={name: md5}) needs a "+"
        hint = next((line for line in lines if line.startswith("To append to your config use +")), None)
        return f"{lines[0].rstrip('.')}: {hint[0].lower()}{hint[1:]}" if hint else lines[0]

    def __getattr__(self, name):
        return getattr(self.real, name)


@contextmanager
def user_errors():
    """Around a stage's work: expected failures end it with one line, not a traceback."""
    global _task_started
    _task_started = True
    if isinstance(sys.stderr, _HeldStderr):
        held, sys.stderr = sys.stderr, sys.stderr.real
        held.release()
    try:
        yield
    except USER_ERRORS as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        sys.stderr.write(f"error: {err}\n")
        sys.exit(USAGE_EXIT)


def launch(main: Callable[[], object]) -> None:
    """Run a @hydra.main function. Hydra exits 1 when composing fails (an unknown experiment, a key that no
    schema has) before the task starts: a user error too, so it exits 2 with one line, like the ones
    `user_errors` catches. HYDRA_FULL_ERROR=1 keeps Hydra's whole message."""
    global _task_started
    _task_started = False  # a process may run several stages (stage_worker.py): each starts unstarted
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        main()
        return
    held = sys.stderr = _HeldStderr(sys.stderr)
    try:
        main()
    except SystemExit as done:
        if done.code == 1 and not _task_started:
            held.released = True  # Hydra's long message gives way to its first line
            held.real.write(f"error: {held.first_line()} (HYDRA_FULL_ERROR=1 for details)\n")
            sys.exit(USAGE_EXIT)
        raise
    finally:
        if sys.stderr is held:
            sys.stderr = held.real
        held.release()
