"""Compute every number of the report from the results (and, where a figure needs images, the store), as a
ReportNumbers tree; nothing here draws or writes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alexnet_repro import results as R
from alexnet_repro.data.store import read_info
from alexnet_repro.report import ablations, claims, confounds, paper
from alexnet_repro.report.cifar_lrn import cifar_lrn
from alexnet_repro.report.figure1_net import figure1_net
from alexnet_repro.report.figure3 import figure3
from alexnet_repro.report.figure4 import figure4
from alexnet_repro.report.numbers import (
    CHECKPOINT_MODE,
    Checkpoints,
    ReportNumbers,
    RunFact,
    RunHealth,
    Score,
    SeedSpread,
    Summary,
    TableRow,
)

if TYPE_CHECKING:  # the report's schema, for its type only: importing it registers it with Hydra
    from alexnet_repro.report.config import ReportConfig

try:  # the run-health rule, written before the runs (alexnet_repro/health.py)
    from alexnet_repro.health import RULE as HEALTH_RULE
except ImportError:  # older code: the runs carry no health record either
    HEALTH_RULE = "no run-health rule in this code (alexnet_repro.health is missing)"

ENSEMBLE = 5  # the paper's "5 CNNs"


def per_seed(result: R.ExperimentResult, mode: str, key: str = "err_top1", last: bool = False) -> list[float]:
    """Each seed's error rate; last: the last checkpoint's (KeyError when not recorded)."""
    return list(result.seed_rates(mode, key, last=last).values())


def score(values: list[float]) -> Score:
    return Score(float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None, len(values))


def _config(result: R.ExperimentResult) -> dict:
    return result.runs[result.seeds[0]].config


# --- summary -------------------------------------------------------------------------------------------------------

def _train_count(store_dir: Path, minival: int) -> str:
    """The training split's images, and how many of them the nets trained on (less the minival held out)."""
    try:
        count = read_info(store_dir).splits["train"]["count"]
    except FileNotFoundError:
        return "(store not available: training images not counted)"
    return f"{count:,} training ({count - minival:,} trained on, {minival:,} held out as minival)" if minival else \
        f"{count:,} training"


def _data_words(base: R.ExperimentResult, store_dir: Path) -> str:
    """What the data is, with its counts; the dataset's name, not data.source (results.NOT_RECORDED)."""
    val = base.metrics["num_images"]
    scored = "test" if base.metrics.get("split") == "test" else "validation"
    minival = _config(base).get("data", {}).get("minival_per_class", 0) * len(base.classes)
    counts = f"{len(base.classes)} classes, {_train_count(store_dir, minival)} and {val:,} {scored} images"
    if base.dataset.startswith("embedded"):
        return ("the embedded generated dataset (synthetic shapes and textures in ILSVRC-2012's layout), **not "
                f"ImageNet**: {counts}")
    names = {"imagenet": "ILSVRC-2012", "imagenet2010": "ILSVRC-2010"}
    return f"{names.get(base.dataset, f'`{base.dataset}` (**not ImageNet**)')}: {counts}"


def _setup_words(base: R.ExperimentResult, mode: str) -> str:
    cfg, h = _config(base), base.runs[base.seeds[0]].history
    model, spec = cfg.get("model", {}), confounds.model_spec(cfg.get("model", {}))
    steps = f" of {h['step'][0]:.0f} steps" if h.get("step") else ""
    return (f"Profile `{base.profile}`: images decoded at {cfg.get('data', {}).get('image_size', 256)} px, "
            f"{spec.input_size}-px crops (feature maps {confounds.feature_maps(spec)} at conv1, pool1, pool2, pool5), "
            f"width {model.get('width', 1.0)}, init `{model.get('init', 'paper')}`, batch "
            f"{cfg.get('data', {}).get('batch_size', '?')}, {len(h.get('epoch', []))} epochs{steps}. Error rates in "
            f"%, `{mode}` evaluation unless named (`center`: one centre patch; `ten_crop`: the paper's ten patches "
            "with averaged softmax; ensemble: the softmax averaged over an experiment's seeds), of the checkpoint "
            "chosen on a minival carved from the training set (the validation images are scored once). Mean ± std "
            "is over seeds (sample std).")


def _summary(found: dict[str, R.ExperimentResult], skipped: list[str], cfg: ReportConfig) -> Summary:
    base = found[cfg.baseline]
    runs = [run for res in found.values() for run in res.runs.values()]
    wall = sum(run.history["wall_s"][-1] for run in runs if run.history.get("wall_s"))
    return Summary(experiments=len(found), seed_counts=tuple(sorted({len(r.seeds) for r in found.values()})),
                   dataset=base.dataset, profile=base.profile, comparable=base.dataset in ablations.COMPARABLE,
                   data_words=_data_words(base, Path(cfg.data.store_dir)), hardware=base.provenance["hardware"],
                   runs=len(runs), wall_s=wall, setup_words=_setup_words(base, cfg.mode), skipped=tuple(skipped))


# --- Tables 1 and 2 --------------------------------------------------------------------------------------------------

def _paper_rows2() -> list[TableRow]:
    def s(x: float | None) -> Score | None:
        return None if x is None else Score(x / 100, None, 0)

    return [TableRow(name, s(a), s(b), s(c), "paper") for name, a, b, c in paper.TABLE2]


def table1(base: R.ExperimentResult, mode: str) -> tuple[TableRow, ...]:
    """The paper's rows; ours only from ILSVRC-2010 (`imagenet2010`), the data Table 1 is on."""
    rows = [TableRow(name, Score(a / 100, None, 0), Score(b / 100, None, 0), None, "paper")
            for name, a, b in paper.TABLE1]
    if base.dataset == "imagenet2010":
        split = base.metrics.get("split", "val")
        rows.append(TableRow("CNN", score(per_seed(base, mode)), score(per_seed(base, mode, "err_top5")), None,
                             f"ours, {mode}, {len(base.seeds)} seeds, ILSVRC-2010 {split} split"))
    else:
        rows.append(TableRow("CNN", None, None, None,
                             f"ours: not comparable ({base.dataset} data; Table 1 needs ILSVRC-2010, `imagenet2010`)"))
    return tuple(rows)


def table2(base: R.ExperimentResult, mode: str) -> tuple[TableRow, ...]:
    """The paper's rows and ours, each of ours saying what it is or why it cannot be produced."""
    off = "" if base.dataset == "imagenet" else f"; not comparable: {base.dataset} data"
    n, m = len(base.seeds), base.metrics
    rows = _paper_rows2()
    for crop in ("center", "ten_crop"):
        rows.append(TableRow("1 CNN", score(per_seed(base, crop)), score(per_seed(base, crop, "err_top5")), None,
                             f"ours, {crop}, {n} seeds{off}; top-5 (test) needs the evaluation server"))
    ensemble = (Score(m[mode]["err_top1"], None, n), Score(m[mode]["err_top5"], None, n))
    if n == ENSEMBLE:
        rows.append(TableRow("5 CNNs", *ensemble, None, f"ours, {mode}, ensemble of the baseline's 5 seeds{off}"))
    elif n > 1:
        rows.append(TableRow(f"{n} CNNs", *ensemble, None, f"ours, {mode}, ensemble of the baseline's {n} seeds, "
                             f"not the paper's {ENSEMBLE} (it needs {ENSEMBLE} seeds){off}"))
    else:
        rows.append(TableRow("5 CNNs", None, None, None, f"ours: needs {ENSEMBLE} seeds of the baseline, it has 1"))
    for name in ("1 CNN*", "7 CNNs*"):
        rows.append(TableRow(name, None, None, None, "ours: needs the Fall 2011 release (pre-training on 15M "
                                                     "images, 22K categories)"))
    rows += [TableRow(name, Score(a / 100, None, 0), Score(b / 100, None, 0), None, "later reference, centre crop")
             for name, a, b in paper.LATER]
    return tuple(rows)


# --- seeds, checkpoints, health, facts -------------------------------------------------------------------------------

def _spread(found: dict[str, R.ExperimentResult], cfg: ReportConfig) -> SeedSpread:
    names = [cfg.baseline, *ablations.ordered(found, cfg.baseline)]
    rows = tuple((n, tuple(per_seed(found[n], cfg.mode))) for n in names)
    return SeedSpread(rows, score(per_seed(found[cfg.baseline], cfg.mode)).std)


def checkpoints(found: dict[str, R.ExperimentResult], mode: str = CHECKPOINT_MODE) -> tuple[Checkpoints, ...]:
    """The minival-chosen checkpoint's top-1 beside the last one's, both in `mode` (metrics["per_seed_last"]; None
    where that was not scored)."""
    out = []
    for name, result in found.items():
        if mode not in result.top5:  # scored in other modes only (the figure1_* runs: their curves are the point)
            continue
        try:
            last = score(per_seed(result, mode, last=True))
        except KeyError:
            last = None
        out.append(Checkpoints(name, score(per_seed(result, mode)), last))
    return tuple(out)


def health(found: dict[str, R.ExperimentResult]) -> tuple[RunHealth, ...]:
    """Each run's health as training recorded it by the rule (summary["health"]); "not recorded" when absent."""
    out = []
    for name, result in found.items():
        for s in result.seeds:
            h = result.runs[s].summary.get("health") or {}
            out.append(RunHealth(name, s, h.get("status", "not recorded"), h.get("reason", "")))
    return tuple(out)


def _settings(cfg: dict) -> str:
    model, data = cfg.get("model", {}), cfg.get("data", {})
    threads = cfg.get("trainer", {}).get("cpu_threads")  # a CPU run's rounding depends on it (README)
    return (f"width {model.get('width', '?')}, input {model.get('input_size', '?')}, init {model.get('init', '?')}, "
            f"batch {data.get('batch_size', '?')}, lr {cfg.get('optim', {}).get('lr', '?')}"
            + (f", {threads} CPU thread{'s' if threads != 1 else ''}" if threads else ""))


def _facts(found: dict[str, R.ExperimentResult], healths: tuple[RunHealth, ...]) -> tuple[RunFact, ...]:
    status = {(h.experiment, h.seed): h.status for h in healths}
    out = []
    for name, result in found.items():
        for s, run in result.runs.items():
            h = run.history
            out.append(RunFact(
                experiment=name, seed=s, url=run.summary.get("wandb_url"), epochs=len(h.get("epoch", [])),
                steps=h["step"][-1] if h.get("step") else None, wall_s=h["wall_s"][-1] if h.get("wall_s") else None,
                images_per_s=float(np.nanmean(h["train/images_per_s"])) if h.get("train/images_per_s") else None,
                settings=_settings(run.config), health=status.get((name, s), "not recorded")))
    return tuple(out)


TOP5_MIN_CLASSES = 11  # top-5 of 10 classes or fewer: every net's is near zero (0.4-1.2% here), it says nothing


def _without_top5(rows: tuple[TableRow, ...]) -> tuple[TableRow, ...]:
    return tuple(r if r.source == "paper" or r.source.startswith("later") else replace(r, top5=None) for r in rows)


def compute(found: dict[str, R.ExperimentResult], skipped: list[str], cfg: ReportConfig,
            figure1_results: dict | None = None, lrn_results: dict | None = None) -> ReportNumbers:
    """figure1_results: figure1/result.py's results by activation (Figure 1 with the paper's four-layer net);
    lrn_results: cifar_lrn/result.py's by net (section 3.3's CIFAR-10 claim)."""
    baseline, mode = cfg.baseline, cfg.mode
    base = found[baseline]
    healths = health(found)
    top5 = len(base.classes) >= TOP5_MIN_CLASSES
    t1, t2 = table1(base, mode), table2(base, mode)
    effects = ablations.ablations(found, baseline, mode, healths)
    lrn = ablations.lrn(found, baseline, mode)
    fig1_net = figure1_net(figure1_results or {})
    lrn_cifar = cifar_lrn(lrn_results or {})
    fig3 = figure3(found, baseline)
    return ReportNumbers(
        mode=mode, baseline=baseline, summary=_summary(found, skipped, cfg),
        table1=t1 if top5 else _without_top5(t1), table2=t2 if top5 else _without_top5(t2),
        spread=_spread(found, cfg), checkpoints=checkpoints(found), health_rule=HEALTH_RULE, health=healths,
        ablations=effects, lrn=lrn, figure3=fig3,
        figure4=figure4(base, mode, Path(cfg.data.store_dir), cfg.neighbours, cfg.figure4_queries),
        curves={name: [res.runs[s].history for s in res.seeds] for name, res in found.items()},
        facts=_facts(found, healths), provenance=base.provenance,
        commits=tuple(sorted({r.provenance["git_commit"] for r in found.values()})),
        claims=claims.claims(found, baseline, mode, effects, lrn, fig1_net, lrn_cifar, fig3),
        top5_reported=top5,
        figure1_net=fig1_net, cifar_lrn=lrn_cifar)
