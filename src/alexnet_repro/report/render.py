"""Turn ReportNumbers into the report's blocks (document.py writes them out): the summary, the paper's tables with
our rows, seeds, checkpoints, run health and the ablations. The figure sections are in render_figures.py."""

from __future__ import annotations

from pathlib import Path

from alexnet_repro.report import claims as claims_rule
from alexnet_repro.report import figures
from alexnet_repro.report.document import Figure, Heading, Items, Paragraph, Table
from alexnet_repro.report.fmt import cell, duration, interval, pct, seeds
from alexnet_repro.report.numbers import CHECKPOINT_MODE, Ablations, ReportNumbers, TableRow
from alexnet_repro.report.render_figures import cifar_lrn, figure1_net, figure3, figure4, lrn
from alexnet_repro.report.stats import ESTIMATOR_RULE, Effect

TITLE = "alexnet-repro: our AlexNet beside Krizhevsky, Sutskever & Hinton (2012)"


def blocks(n: ReportNumbers, fig_dir: Path) -> list:
    """Claims first (what this run can and cannot show), then the appendices that back them."""
    return [*claims_first(n), *summary(n), *tables(n), *seed_spread(n, fig_dir), *health(n), *ablations(n, fig_dir),
            *figure1_net(n.figure1_net, fig_dir, _testable(n, 1)),
            *lrn(n.lrn, n.top5_reported), *cifar_lrn(n.cifar_lrn, _testable(n, 4)),
            *figure3(n.figure3, fig_dir), *figure4(n.figure4, fig_dir), *curves(n, fig_dir), *facts(n)]


def _testable(n: ReportNumbers, number: int) -> bool:
    return any(r.number == number and r.testable for r in n.claims.rows)


def claims_first(n: ReportNumbers) -> list:
    c = n.claims
    rows = [[str(r.number), r.claim, r.section, r.paper, r.ours, "yes" if r.testable else f"no: {r.reason}",
             r.verdict] for r in c.rows]
    pooled = ("" if c.detectable is None else
              f" Here the seed spread pooled over the run's experiments is {c.pooled_sd * 100:.1f} points (SD of a "
              f"net's top-1 error), so with {c.seeds} seeds a net the smallest effect detected with 80% power is "
              f"{c.detectable * 100:.1f} points.")
    return [Heading(TITLE, 1), Paragraph(c.summary),
            Heading("The paper's claims"),
            Table(["#", "claim", "§", "paper", "ours", "testable here?", "verdict"], rows),
            Paragraph(claims_rule.RULE + pooled),
            Paragraph("Everything below is an appendix: the run, the paper's tables with our rows, the statistics of "
                      "each ablation, the figures and the run facts.")]


def summary(n: ReportNumbers) -> list:
    s = n.summary
    counts = seeds(s.seed_counts[0]) if len(s.seed_counts) == 1 else f"{s.seed_counts[0]} to {s.seed_counts[-1]} seeds"
    top5 = ("" if n.top5_reported else " Top-5 error is not reported for our nets: with 10 classes or fewer every "
            "net's top-5 error is near zero and says nothing.")
    out = [Heading("Appendix: what was run"), Paragraph(
        f"We trained {s.experiments} experiments, {counts} each, on {s.data_words}. Hardware: {s.hardware}. "
        f"Training took {duration(s.wall_s)} in all ({s.runs} runs)."
        f"{'' if s.comparable else ' These numbers are **not comparable to ImageNet** numbers.'}"),
        Paragraph(s.setup_words + top5)]
    if s.skipped:
        out.append(Paragraph("Skipped results (another dataset or profile, or unreadable): "
                             + "; ".join(f"`{x}`" for x in s.skipped) + "."))
    return out


def _row(r: TableRow, test_column: bool) -> list[str]:
    return [r.model, cell(r.top1), cell(r.top5), *([cell(r.test_top5)] if test_column else []), r.source]


def tables(n: ReportNumbers) -> list:
    rows = [[c.experiment, cell(c.best), cell(c.last)] for c in n.checkpoints]
    return [Heading("Table 1 (ILSVRC-2010 test in the paper)"),
            Table(["model", "top-1", "top-5", "source"], [_row(r, False) for r in n.table1]),
            Heading("Table 2 (ILSVRC-2012 in the paper)"),
            Table(["model", "top-1 (val)", "top-5 (val)", "top-5 (test)", "source"], [_row(r, True) for r in n.table2]),
            Heading("Best and last checkpoints", 3),
            Paragraph(f"Every number above is of the checkpoint chosen on the minival carved from the training set "
                      f"(never on the validation images). Here both the chosen and the last checkpoint, "
                      f"{CHECKPOINT_MODE} top-1 error (the last is scored on the centre patch only, "
                      "conf/evaluate.yaml's last_modes), mean ± std over seeds; '-' where the last was not scored."),
            Table(["experiment", "best on minival", "last"], rows)]


def seed_spread(n: ReportNumbers, fig_dir: Path) -> list:
    base_seeds = len(n.spread.rows[0][1])
    if base_seeds == 1:
        words = ("With one seed per experiment the seed-to-seed spread cannot be measured, so no effect below can be "
                 "told apart from the difference another seed would make.")
    else:
        words = (f"The same experiment trained with another seed gives another error: the baseline's {base_seeds} "
                 f"seeds have a {n.mode} top-1 std of {pct(n.spread.baseline_std)} points. An ablation effect not "
                 "clearly larger than this spread says little, whatever its sign.")
    rows = [(name, [v * 100 for v in values]) for name, values in n.spread.rows]
    path = figures.seed_strip(rows, fig_dir / "seed_strip.png", f"{n.mode} top-1 error (%)")
    return [Heading("Seed-to-seed variation"), Paragraph(words),
            Figure(path, f"{n.mode} top-1 error of every seed (dots) and their mean (bar), per experiment.")]


def health(n: ReportNumbers) -> list:
    flagged = [h for h in n.health if h.flagged]
    unknown = sum(h.status == "not recorded" for h in n.health)
    words = [f"Run health, by a rule fixed before the runs: {n.health_rule.rstrip('.')}. Its blind spot, stated "
             "rather than closed after the fact: a run whose training error rises mid-run and stays above its "
             "earlier best without nearing chance (an earlier no_lrn seed rose from 70.5% to 86.3% at epoch 5) is "
             "not flagged; the per-seed dots and the training curves below show such runs."]
    if unknown:
        words.append(f"{unknown} of {len(n.health)} runs carry no health record (not recorded).")
    words.append(f"{len(flagged)} run{'' if len(flagged) == 1 else 's'} flagged" + (
        ": each ablation below is shown with and without them." if flagged else "."))
    out = [Heading("Run health"), Paragraph(" ".join(words))]
    if flagged:
        out.append(Table(["experiment", "seed", "status", "reason"],
                         [[h.experiment, h.seed, h.status, h.reason or "-"] for h in flagged]))
    return out


def _without(e: Effect | None) -> str:
    if e is None:
        return "= (no run flagged)"
    if not e.seeds_a or not e.seeds_b:
        return "- (every run of an arm flagged)"
    return f"{interval(e)} ({e.seeds_a} / {e.seeds_b} seeds)"


def _holm(holds: bool | None) -> str:
    return "-" if holds is None else "holds" if holds else "does not hold"


def _ablation_table(a: Ablations) -> Table:
    rows = [[r.name + ("*" if r.confounded else ""), r.section, r.paper_words, interval(r.top1),
             "-" if r.top1.p_value is None else f"{r.top1.p_value:.3f} / {r.holm_p:.3f}", r.verdict.text,
             _without(r.without_flagged), f"{r.top1.seeds_a} / {r.top1.seeds_b}"] for r in a.rows]
    return Table(["ablation", "paper §", "paper's effect", "ours Δ top-1 [95% CI]", "p (raw / Holm)", "verdict",
                  "Δ top-1 without flagged runs", "seeds (base / abl.)"], rows)


def ablations(n: ReportNumbers, fig_dir: Path) -> list:
    a = n.ablations
    if not a.rows:
        return [Heading("Ablations"), Paragraph("No ablation was evaluated beside the baseline.")]
    where = ("" if n.summary.comparable else " Our data is not the paper's, so a verdict says the direction only "
             "('not comparable'), with no claim of agreement.")
    out = [Heading("Ablations: change in error when a feature is removed"),
           Paragraph(f"Ours: {n.mode} error of the ablation minus the baseline's, on the same validation images, in "
                     "points; positive means removing the feature hurts. " + ESTIMATOR_RULE + " The verdict (on "
                     "top-1) says whether the interval lies on the paper's side of zero and whether the paper's "
                     f"number lies inside it. Multiplicity: the family is the {a.family} top-1 comparisons of this "
                     f"table, and every interval in this report that carries a verdict is one of them (the LRN "
                     f"section's mechanism checks and top-5 carry none); a raw decision at 5% each would let about "
                     f"1 - 0.95^{a.family} = {1 - 0.95 ** a.family:.0%} of families claim an effect where there is "
                     f"none, Holm keeps that at 5%.{where} * marks a confounded comparison (notes below)."),
           _ablation_table(a)]
    if a.notes:
        out += [Paragraph("Notes: what else each comparison changes. A confounded comparison is not a test of the "
                          "paper's number, so it gets no verdict."),
                Items([f"`{note.experiment}`: {note.text}" for note in a.notes])]
    out.append(Paragraph(f"Effects are measured after {a.epochs} epochs, not at the paper's ~90: a feature that "
                         "slows early learning but helps at convergence (the paper says dropout roughly doubles the "
                         "iterations needed) can show the opposite sign this early."))
    testable = {name for r in n.claims.rows if r.testable for name in claims_rule.ABLATION_OF.get(r.number, ())}
    chart = [(r.name + ("*" if r.confounded else ""), r.top1.point * 100,
              (r.top1.low if r.top1.low is not None else r.top1.point) * 100,
              (r.top1.high if r.top1.high is not None else r.top1.point) * 100,
              None if r.paper_top1 is None or r.name not in testable else r.paper_top1 * 100) for r in a.rows]
    out.append(Figure(figures.ablation_deltas(chart, fig_dir / "ablation_deltas.png"),
                      "Change in top-1 error against the baseline: ours with 95% t-intervals over seeds; the paper's "
                      "number as x only where its claim is testable on this run (claims table), "
                      f"{'here for ' + ', '.join(sorted(testable)) if testable else 'here for none'}; * confounded "
                      "(see the notes)."))
    return out


def curves(n: ReportNumbers, fig_dir: Path) -> list:
    return [Heading("Training curves"),
            Figure(figures.training_curves(n.curves, fig_dir / "training_curves.png"),
                   "Top-1 error per epoch for every experiment, one line per seed.")]


def _number(x: float | None, fmt: str = "{:.0f}") -> str:
    return "-" if x is None else fmt.format(x)


def facts(n: ReportNumbers) -> list:
    rows = [[f"[{f.experiment}]({f.url})" if f.url else f.experiment, f.seed, str(f.epochs), _number(f.steps),
             _number(f.wall_s), _number(f.images_per_s), f.health, f.settings] for f in n.facts]
    p = n.provenance
    return [Heading("Run facts"),
            Table(["experiment", "seed", "epochs", "steps", "train wall s", "train images/s", "health", "settings"],
                  rows),
            Paragraph(f"Hardware: {p['hardware']}."),
            Paragraph(f"Packages: {p['versions']}."),
            Paragraph(f"Code: git {'; '.join(n.commits)}. Data: store fingerprint {p['data_fingerprint']}.")]
