"""How every entry point starts and fails: one log format, and a user error (a bad config value, missing data,
a bad file) is one line on stderr naming the key or file, exit code 2. HYDRA_FULL_ERROR=1 shows tracebacks."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager

from alexnet_repro.config import PROJECT_ROOT, ConfigError

CONFIG_DIR = str(PROJECT_ROOT / "conf")
USER_ERRORS = (ConfigError, FileNotFoundError, ValueError, OSError)  # CheckpointError is a ValueError
USAGE_EXIT = 2  # argparse's code for "you asked for something impossible"
log = logging.getLogger("alexnet_repro")

_task_started = False


@contextmanager
def user_errors():
    """Around a stage's work: expected failures end it with one line, not a traceback."""
    global _task_started
    _task_started = True
    try:
        yield
    except USER_ERRORS as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        sys.stderr.write(f"error: {err}\n")
        sys.exit(USAGE_EXIT)


def launch(main: Callable[[], object]) -> None:
    """Run a @hydra.main function. Hydra exits 1 when composing fails (an unknown experiment, a key that no
    schema has) before the task starts: a user error too, so it exits 2 like the ones `user_errors` catches."""
    try:
        main()
    except SystemExit as done:
        if done.code == 1 and not _task_started:
            sys.exit(USAGE_EXIT)
        raise
