"""What every stage script shares: the validated config, and a clean exit naming the problem."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from alexnet_repro.config import ConfigError


@contextmanager
def clean_errors():
    """Expected failures (bad config, bad or missing input) end the stage with one line naming the culprit."""
    try:
        yield
    except (ConfigError, FileNotFoundError, ValueError, OSError) as err:  # CheckpointError is a ValueError
        sys.exit(f"error: {err}")
