"""What every part of the package may share, importing nothing of it: where the repository is, the one error
type for a bad setting, and the two checks every config schema is made of."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # src/alexnet_repro/basics.py -> the repository


class ConfigError(ValueError):
    """A setting that cannot work; its message names the full key."""


def choice(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of {list(allowed)}")


def in_range(key: str, value, low=None, high=None, low_open: bool = False) -> None:
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        lo = "(" if low_open else "["
        raise ConfigError(f"{key}={value} is impossible; it must lie in {lo}{low}, {high}]")
