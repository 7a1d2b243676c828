"""Does a run on this machine agree with the committed one? `python -m alexnet_repro.reproducibility` (or
`make compare`) reads each experiment's per-seed top-1 errors (ten-crop, or the centre patch where that is all
both scored) from results/ and from the committed
results (git HEAD, or another git revision), and says whether the means agree within the committed seed spread.

On the same machine kind the numbers are equal. On another (another CPU instruction set, another GPU) the float
kernels differ and the runs drift apart by about a seed's worth: the check is a Welch t-test of the two sets of
per-seed errors at 5%, not equality (README: what is reproducible)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from alexnet_repro.basics import PROJECT_ROOT

MODES, KEY = ("ten_crop", "center"), "err_top1"  # the first that both sides scored (Figure 1's runs: centre only)


@dataclass(frozen=True)
class Agreement:
    experiment: str
    ours: list[float]
    committed: list[float]
    equal: bool  # the same numbers: the same machine kind
    agrees: bool  # within the seed spread (Welch t, 5%)
    p_value: float | None


def shared_mode(*metrics: dict) -> str | None:
    scored = [set.intersection(*(set(seed) for seed in m["per_seed"].values())) for m in metrics]
    return next((mode for mode in MODES if all(mode in s for s in scored)), None)


def per_seed(metrics: dict, mode: str) -> list[float]:
    return [seed[mode][KEY] for seed in metrics["per_seed"].values()]


def compare(experiment: str, ours: list[float], committed: list[float], level: float = 0.05) -> Agreement:
    if ours == committed:
        return Agreement(experiment, ours, committed, equal=True, agrees=True, p_value=1.0)
    if min(len(ours), len(committed)) < 2 or np.std(ours + committed) == 0:
        # no spread to compare within
        return Agreement(experiment, ours, committed, equal=False, agrees=False, p_value=None)
    p = float(stats.ttest_ind(ours, committed, equal_var=False).pvalue)
    return Agreement(experiment, ours, committed, equal=False, agrees=p >= level, p_value=p)


def committed_metrics(path: Path, revision: str) -> dict | None:
    if not path.resolve().is_relative_to(PROJECT_ROOT):
        raise SystemExit(f"{path} is outside this repository ({PROJECT_ROOT}): its committed counterpart is unknown")
    relative = path.resolve().relative_to(PROJECT_ROOT)
    shown = subprocess.run(["git", "show", f"{revision}:{relative.as_posix()}"], cwd=PROJECT_ROOT,
                           capture_output=True, text=True)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def check(results_dir: Path, revision: str = "HEAD") -> list[Agreement]:
    found = []
    for path in sorted(results_dir.glob("*/metrics.json")):
        reference = committed_metrics(path, revision)
        ours = json.loads(path.read_text())
        if reference is not None and (mode := shared_mode(ours, reference)) is not None:
            found.append(compare(path.parent.name, per_seed(ours, mode), per_seed(reference, mode)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=PROJECT_ROOT / "results")
    parser.add_argument("--revision", default="HEAD", help="the git revision whose results are the reference")
    args = parser.parse_args(argv)
    rows = check(args.results, args.revision)
    if not rows:
        print(f"no results under {args.results} with a committed counterpart at {args.revision}", file=sys.stderr)
        return 2
    for r in rows:
        verdict = ("identical" if r.equal else "within the seed spread" if r.agrees
                   else "no spread to compare within" if r.p_value is None else "OUTSIDE the seed spread")
        p = "" if r.p_value is None or r.equal else f" (Welch p {r.p_value:.2f})"
        print(f"{r.experiment:18s} ours {np.mean(r.ours) * 100:5.1f}%  committed {np.mean(r.committed) * 100:5.1f}%"
              f"  {verdict}{p}")
    outside = [r.experiment for r in rows if not r.agrees]
    print(f"{len(rows) - len(outside)} of {len(rows)} experiments agree with {args.revision}'s results"
          + (f"; not: {', '.join(outside)}" if outside else ""))
    return 1 if outside else 0


if __name__ == "__main__":
    sys.exit(main())
