"""Section 3.3's CIFAR-10 result, one file per net (results/cifar_lrn-<net>.json), written by the cifar_lrn stage
and read by the report: each seed's test error. Typed and versioned; no torch."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from alexnet_repro.atomic import write_bytes

SCHEMA_VERSION = 1
PREFIX = "cifar_lrn-"  # results/cifar_lrn-<net>.json


class CifarLrnResultError(ValueError):
    pass


@dataclass(frozen=True)
class SeedResult:
    seed: int
    test_error: float  # the final net's top-1 error on the test split, over the configured views
    train_error: float  # its error on the last epoch's training batches, as they were trained on
    divisor_moves: dict  # cmrnorm layer -> its divisor's 95th over 5th percentile, less 1, on the test batch
    seconds: float


@dataclass(frozen=True)
class CifarLrnResult:
    net: str
    dataset: str
    epochs: int
    views: str
    train_images: int
    test_images: int
    seeds: tuple[SeedResult, ...]
    inputs: dict  # what decides the result (config, store, code): a finished result of the same is adopted

    @property
    def test_errors(self) -> list[float]:
        return [s.test_error for s in self.seeds]


def write(path: str | Path, result: CifarLrnResult) -> Path:
    write_bytes(Path(path), json.dumps({"schema_version": SCHEMA_VERSION, **asdict(result)}, indent=1).encode())
    return Path(path)


def load(path: str | Path) -> CifarLrnResult:
    path = Path(path)
    try:
        d = json.loads(path.read_text())
        if d.get("schema_version") != SCHEMA_VERSION:
            raise KeyError(f"schema version {d.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        seeds = tuple(SeedResult(**s) for s in d["seeds"])
        return CifarLrnResult(net=d["net"], dataset=d["dataset"], epochs=d["epochs"], views=d["views"],
                              train_images=d["train_images"], test_images=d["test_images"], seeds=seeds,
                              inputs=d["inputs"])
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CifarLrnResultError(f"{path} is not a cifar_lrn result of this code ({err}): run the cifar_lrn stage "
                                  "again") from None


def load_all(results_dir: str | Path) -> dict[str, CifarLrnResult]:
    """{net: result} for every cifar_lrn result under results_dir."""
    return {(r := load(p)).net: r for p in sorted(Path(results_dir).glob(f"{PREFIX}*.json"))}


def adoptable(path: str | Path, inputs: dict) -> bool:
    """The result at `path` was made from exactly these inputs (config, store, code)."""
    try:
        return load(path).inputs == inputs
    except (FileNotFoundError, CifarLrnResultError):
        return False
