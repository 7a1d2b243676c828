"""Reading a JSON file another stage wrote: damaged or of another format, it is one line naming the file and
the stage that writes it again (the store's index and tables, the PCA statistics)."""

from __future__ import annotations

import json
from pathlib import Path


def read_checked(path: Path, keys: tuple[str, ...], error: type[Exception], remedy: str) -> dict:
    """The mapping in `path`, which must hold `keys`; else `error` naming the file and `remedy`."""
    try:
        meta = json.loads(path.read_text())
    except ValueError as err:
        raise error(f"{path} is not valid JSON ({err}): {remedy}") from None
    missing = [k for k in keys if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise error(f"{path} lacks {', '.join(map(repr, missing))} (an older format, or damaged): {remedy}")
    return meta
