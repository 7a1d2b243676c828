"""Figure 1's result, one file per activation (results/figure1-<activation>.json), written by the figure1 stage and
read by the report: the pilot grid's curves, the pick, the reported seeds' curves. Typed and versioned; no torch.

A curve is the training error measured on the fly over each `log_every` steps' batches (cuda-convnet's training
error: the net's error on the batches it was trained on, as they came), logged at the step that ends them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from alexnet_repro.atomic import write_bytes
from alexnet_repro.speed import Reach, steps_to_threshold

SCHEMA_VERSION = 1
PREFIX = "figure1-"  # results/figure1-<activation>.json


class Figure1ResultError(ValueError):
    pass


@dataclass(frozen=True)
class Curve:
    seed: int
    lr_scale: float
    steps: tuple[int, ...]
    errors: tuple[float, ...]
    epochs: float  # epochs trained (a run stops at its first point at or below the level)
    seconds: float

    def reach(self, level: float) -> Reach:
        return steps_to_threshold(list(self.steps), list(self.errors), level)


@dataclass(frozen=True)
class Pick:
    lr_scale: float
    at_edge: bool  # the grid's lowest or highest rate: the fastest rate may lie beyond it
    pilot_mean_steps: dict  # lr scale (as a string) -> (mean steps of the pilot seeds, relation)


@dataclass(frozen=True)
class Figure1Result:
    activation: str
    layers: str
    dataset: str
    level: float
    batch_size: int
    train_images: int
    pilots: tuple[Curve, ...]
    pick: Pick
    runs: tuple[Curve, ...]
    inputs: dict  # what decides the result (config, store, code): a finished result of the same is adopted

    def reaches(self) -> list[Reach]:
        return [run.reach(self.level) for run in self.runs]


def path_for(results_dir: str | Path, activation: str) -> Path:
    return Path(results_dir) / f"{PREFIX}{activation}.json"


def write(path: str | Path, result: Figure1Result) -> Path:
    write_bytes(Path(path), json.dumps({"schema_version": SCHEMA_VERSION, **asdict(result)}, indent=1).encode())
    return Path(path)


def _curve(d: dict) -> Curve:
    return Curve(seed=d["seed"], lr_scale=d["lr_scale"], steps=tuple(d["steps"]), errors=tuple(d["errors"]),
                 epochs=d["epochs"], seconds=d["seconds"])


def load(path: str | Path) -> Figure1Result:
    path = Path(path)
    try:
        d = json.loads(path.read_text())
        if d.get("schema_version") != SCHEMA_VERSION:
            raise KeyError(f"schema version {d.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        return Figure1Result(activation=d["activation"], layers=d["layers"], dataset=d["dataset"], level=d["level"],
                             batch_size=d["batch_size"], train_images=d["train_images"],
                             pilots=tuple(_curve(c) for c in d["pilots"]), pick=Pick(**d["pick"]),
                             runs=tuple(_curve(c) for c in d["runs"]), inputs=d["inputs"])
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise Figure1ResultError(f"{path} is not a Figure 1 result of this code ({err}): run the figure1 stage "
                                 "again") from None


def load_all(results_dir: str | Path) -> dict[str, Figure1Result]:
    """{activation: result} for every Figure 1 result under results_dir."""
    return {(r := load(p)).activation: r for p in sorted(Path(results_dir).glob(f"{PREFIX}*.json"))}


def adoptable(path: str | Path, inputs: dict) -> bool:
    """The result at `path` was made from exactly these inputs (config, store, code)."""
    try:
        return load(path).inputs == inputs
    except (FileNotFoundError, Figure1ResultError):
        return False
