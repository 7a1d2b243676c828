"""How the report writes its numbers: rates and effects in percentage points, intervals, mean ± std."""

from __future__ import annotations

from alexnet_repro.report.numbers import Score
from alexnet_repro.report.stats import Effect


def pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x * 100:+.1f}" if signed else f"{x * 100:.1f}"


def interval(e: Effect) -> str:
    """'+1.2 [-0.3, +2.7]' in points; '(clipped)' where the interval met a possible bound; no interval: '(no CI)'."""
    if e.low is None:
        return f"{pct(e.point, True)} (no CI)"
    return f"{pct(e.point, True)} [{pct(e.low, True)}, {pct(e.high, True)}]{' (clipped)' if e.clipped else ''}"


def cell(s: Score | None) -> str:
    """A paper number, an ensemble's rate, or our mean ± std over seeds."""
    if s is None:
        return "-"
    if s.seeds <= 1 or s.std is None:
        return pct(s.mean) + (" (1 seed)" if s.seeds == 1 else "")
    return f"{pct(s.mean)} ± {pct(s.std)}"


def seeds(n: int) -> str:
    return f"{n} seed{'' if n == 1 else 's'}"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"
