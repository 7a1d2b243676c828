"""The ablation effects against the baseline, judged by stats.py's rule, with and without flagged runs; and
section 3.3's three LRN comparisons."""

from __future__ import annotations

from alexnet_repro import results as R
from alexnet_repro.models.spec import LRNConfig
from alexnet_repro.report import confounds, paper
from alexnet_repro.report.numbers import AblationRow, Ablations, Lrn, LrnComparison, LrnDivisor, Note, RunHealth
from alexnet_repro.report.stats import Effect, detectable, effect, holm, verdict

# Experiments that are controls for a figure, not ablations of a feature: they get no row in the ablation table.
CONTROLS = ("shuffled_labels",)
COMPARABLE = ("imagenet", "imagenet2010")  # the paper's data: ILSVRC-2012 and ILSVRC-2010


def is_control(name: str) -> bool:
    return name in CONTROLS


def rates(result: R.ExperimentResult, mode: str, key: str = "err_top1", leave_out: frozenset = frozenset()
          ) -> dict[str, float]:
    """{seed: error rate} in seed order, less the seeds named in `leave_out`."""
    return {s: rate for s, rate in result.seed_rates(mode, key).items() if s not in leave_out}


def ordered(found: dict[str, R.ExperimentResult], baseline: str) -> list[str]:
    """The ablations: the paper's in its order, then the others by name; controls left out."""
    others = [n for n in found if n != baseline and not is_control(n)]
    return [n for n in paper.ABLATIONS if n in others] + sorted(n for n in others if n not in paper.ABLATIONS)


def _config(result: R.ExperimentResult) -> dict:
    return result.runs[result.seeds[0]].config


def _notes(found: dict[str, R.ExperimentResult], baseline: str, names: list[str]) -> list[Note]:
    """Numbered notes on what else each ablation changes, numbered in table order."""
    base_model = _config(found[baseline]).get("model", {})
    out: list[Note] = []
    for name in names:
        for n in confounds.notes(base_model, _config(found[name]).get("model", {})):
            out.append(Note(len(out) + 1, name, n.text, n.confound))
    return out


def _flagged(health: tuple[RunHealth, ...], experiment: str) -> frozenset:
    return frozenset(h.seed for h in health if h.experiment == experiment and h.flagged)


def _pct(x: float | None) -> float | None:
    return None if x is None else x / 100


def ablations(found: dict[str, R.ExperimentResult], baseline: str, mode: str,
              health: tuple[RunHealth, ...]) -> Ablations:
    """Every ablation's top-1 and top-5 effect, its detectable effect, Holm over the top-1 family, the verdict."""
    names = ordered(found, baseline)
    base = found[baseline]
    notes = _notes(found, baseline, names)
    effects = {n: (effect(rates(base, mode), rates(found[n], mode)),
                   effect(rates(base, mode, "err_top5"), rates(found[n], mode, "err_top5"))) for n in names}
    adjusted = dict(zip(names, holm([effects[n][0].p_value for n in names])))
    comparable = base.dataset in COMPARABLE
    rows = []
    for name in names:
        e1, e5 = effects[name]
        claim = paper.ABLATIONS.get(name, paper.NOT_IN_PAPER)
        mine = [n for n in notes if n.experiment == name]
        confound = [str(n.number) for n in mine if n.confound]
        said = verdict(e1, claim.sign, _pct(claim.top1), comparable, adjusted[name],
                       f"note {', '.join(confound)}" if confound else "")
        rows.append(AblationRow(name=name, section=claim.section, paper_words=claim.words,
                                paper_top1=_pct(claim.top1), paper_top5=_pct(claim.top5),
                                top1=e1, top5=e5, detectable_top1=detectable(e1), holm_p=adjusted[name], verdict=said,
                                without_flagged=_without_flagged(base, found[name], mode, health),
                                notes=tuple(n.number for n in mine), confounded=bool(confound)))
    epochs = len(base.runs[base.seeds[0]].history.get("epoch", []))
    return Ablations(tuple(rows), tuple(notes), sum(p is not None for p in adjusted.values()), epochs)


def _without_flagged(base: R.ExperimentResult, abl: R.ExperimentResult, mode: str,
                     health: tuple[RunHealth, ...]) -> Effect | None:
    """Top-1 effect with every flagged run of either arm left out (None when none is flagged). Leaving a seed out
    of one arm only changes the seed lists, so the rule turns to Welch's t, as it says."""
    out_a, out_b = _flagged(health, base.experiment), _flagged(health, abl.experiment)
    if not out_a and not out_b:
        return None
    return effect(rates(base, mode, leave_out=out_a), rates(abl, mode, leave_out=out_b))


# --- section 3.3 -----------------------------------------------------------------------------------------------------

def _divisors(result: R.ExperimentResult, spec: LRNConfig) -> tuple[LrnDivisor, ...] | None:
    """The measured LRN divisor (k + alpha' S)^beta over epochs and seeds, S the logged mean window sum of squares;
    None when the runs did not log S."""
    scale = spec.scale
    out = []
    for layer, column in R.LRN_WINDOW_COLUMNS.items():
        values = [v for run in result.runs.values() for v in run.history.get(column, []) if v == v]
        if values:
            out.append(LrnDivisor(layer, (spec.k + scale * min(values)) ** spec.beta,
                                  (spec.k + scale * max(values)) ** spec.beta))
    return tuple(out) or None


def lrn(found: dict[str, R.ExperimentResult], baseline: str, mode: str) -> Lrn | None:
    """no_lrn - baseline is the paper's experiment and is judged against +1.4 / +1.2; lrn_gain is a mechanism
    check (LRN's constant gain without its normalisation) with no number in the paper."""
    if "no_lrn" not in found and "lrn_gain" not in found:
        return None
    base = found[baseline]
    model = _config(base).get("model", {})
    spec = confounds.model_spec(model).lrn
    claim = paper.ABLATIONS["no_lrn"]
    comparable = base.dataset in COMPARABLE
    plan = [("`no_lrn` − baseline", "LRN removed (the paper's experiment)", baseline, "no_lrn", claim.sign),
            ("`lrn_gain` − baseline", "normalisation alone (mechanism check)", baseline, "lrn_gain", None),
            ("`no_lrn` − `lrn_gain`", "LRN's constant gain alone (mechanism check)", "lrn_gain", "no_lrn", None)]
    comparisons = []
    for label, isolates, a, b, paper_sign in plan:
        if a not in found or b not in found:
            continue
        e1 = effect(rates(found[a], mode), rates(found[b], mode))
        e5 = effect(rates(found[a], mode, "err_top5"), rates(found[b], mode, "err_top5"))
        stated = f"+{claim.top1} / +{claim.top5}" if paper_sign else "-"
        judged = verdict(e1, paper_sign, _pct(claim.top1) if paper_sign else None, comparable)
        comparisons.append(LrnComparison(label, isolates, stated, top1=e1, top5=e5, verdict=judged))
    missing = next((n for n in ("no_lrn", "lrn_gain") if n not in found), None)
    return Lrn(k=spec.k, alpha=spec.alpha, alpha_over_n=spec.alpha_over_n, size=spec.size, beta=spec.beta,
               init=model.get("init", "paper"), comparisons=tuple(comparisons), missing=missing,
               divisors=_divisors(base, spec))
