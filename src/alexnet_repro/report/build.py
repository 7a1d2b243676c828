"""Assemble reports/ as a paper's results section: what was run, the paper's tables with our rows, the seed
spread, the ablations with intervals and verdicts that claim only what the seeds support, Figures 1, 3 and 4 with
a number each, training curves and run facts. Reads results/ (results.py) and, for Figure 4's thumbnails and the
training-image count, the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alexnet_repro import results as R
from alexnet_repro.atomic import atomic_dir, atomic_path
from alexnet_repro.data.store import ShardReader, read_info
from alexnet_repro.report import confounds, figures, kernels, neighbours, paper, speed
from alexnet_repro.report.document import Figure, Heading, Items, Paragraph, Table, to_html, to_markdown
from alexnet_repro.report.stats import VERDICT_RULE, Effect, hierarchical_bootstrap, verdict

TITLE = "alexnet-repro: our AlexNet beside Krizhevsky, Sutskever & Hinton (2012)"
INIT_SEEDS = (0, 1, 2)  # fresh initialisations that Figure 3's trained kernels are compared with


@dataclass
class _Report:
    """Everything the sections read: the results, the options, and the effects computed so far."""

    found: dict[str, R.ExperimentResult]
    skipped: list[str]
    baseline: str
    store_dir: Path
    fig_dir: Path
    mode: str
    samples: int
    seed: int
    threshold: float
    n_neighbours: int
    n_queries: int
    _effects: dict = field(default_factory=dict)

    @property
    def base(self) -> R.ExperimentResult:
        return self.found[self.baseline]

    def effect(self, a: str, b: str) -> tuple[Effect, Effect]:
        """Top-1 and top-5 error of b minus a, seeds then images resampled, paired on seeds that match."""
        if (a, b) not in self._effects:
            ra, rb = self.found[a], self.found[b]
            paired = ra.seeds == rb.seeds
            self._effects[a, b] = tuple(
                hierarchical_bootstrap(ea, eb, self.samples, self.seed, paired_seeds=paired)
                for ea, eb in zip(ra.errors(self.mode), rb.errors(self.mode)))
        return self._effects[a, b]


def build_report(results_dir: str | Path, store_dir: str | Path, out_dir: str | Path, baseline: str = "baseline",
                 samples: int = 2000, seed: int = 0, dataset: str = "embedded", profile: str = "embedded",
                 mode: str = "ten_crop", relu_tanh_threshold: float = paper.FIGURE1[0], n_neighbours: int = 5,
                 queries: int = 4) -> Path:
    """Write out_dir/README.md, out_dir/report.html and out_dir/figures/ from the results of one dataset and
    profile; returns the README's path. relu_tanh_threshold: Figure 1's training-error level."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    found, skipped = R.load_all(results_dir, dataset, profile)
    if baseline not in found:
        raise FileNotFoundError(f"{results_dir / baseline / R.RESULT_JSON} (dataset {dataset}, profile {profile}) is "
                                "missing: the report compares every ablation with the baseline, so evaluate it first")
    with atomic_dir(out_dir / "figures") as fig_dir:
        blocks = _document(_Report(found, skipped, baseline, Path(store_dir), fig_dir, mode, samples, seed,
                                   relu_tanh_threshold, n_neighbours, queries))
    final = [b if not isinstance(b, Figure) else Figure(out_dir / "figures" / b.path.name, b.caption) for b in blocks]
    with atomic_path(out_dir / "README.md") as tmp:
        tmp.write_text(to_markdown(final, out_dir))
    with atomic_path(out_dir / "report.html") as tmp:
        tmp.write_text(to_html(final, TITLE))
    return out_dir / "README.md"


def _document(r: _Report) -> list:
    sections = (_summary, _tables, _seed_spread, _ablations, _relu_vs_tanh, _lrn, _figure3, _figure4, _curves,
                _run_facts)
    return [block for section in sections for block in section(r)]


# --- formatting ----------------------------------------------------------------------------------------------------

def pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x * 100:+.1f}" if signed else f"{x * 100:.1f}"


def _interval(e: Effect) -> str:
    return f"{pct(e.point, True)} [{pct(e.low, True)}, {pct(e.high, True)}]"


def _mean_std(values: list[float]) -> str:
    """'42.1 ± 1.3' in %, the sample std over seeds; one seed has no spread to show."""
    if len(values) == 1:
        return f"{pct(values[0])} (1 seed)"
    return f"{pct(float(np.mean(values)))} ± {pct(float(np.std(values, ddof=1)))}"


def _seeds(n: int) -> str:
    return f"{n} seed{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def _per_seed(result: R.ExperimentResult, mode: str, key: str = "err_top1") -> list[float]:
    return [result.metrics["per_seed"][s][mode][key] for s in result.seeds]


def _spread(result: R.ExperimentResult, mode: str) -> str:
    """Seed-to-seed std of top-1 error, in points."""
    values = _per_seed(result, mode)
    return f"{np.std(values, ddof=1) * 100:.1f}" if len(values) > 1 else "n/a (1 seed)"


def _histories(result: R.ExperimentResult) -> list[dict[str, list[float]]]:
    return [result.runs[s].history for s in result.seeds]


def _config(result: R.ExperimentResult) -> dict:
    return result.runs[result.seeds[0]].config


def _comparable(result: R.ExperimentResult) -> str:
    return "" if result.dataset == "imagenet" else f"; not comparable: {result.dataset} data"


# --- sections ------------------------------------------------------------------------------------------------------

def _data_words(base: R.ExperimentResult, store_dir: Path) -> str:
    """What the data is, with its counts: classes and validation images from the result, training images from the
    store's index (the result keeps only a sample of them, for Figure 4)."""
    classes, val = len(base.classes), base.metrics["num_images"]
    train = read_info(store_dir).splits["train"]["count"]
    counts = f"{classes} classes, {train:,} training and {val:,} validation images"
    # The dataset's name, not data.source (a path-bearing key results do not record: results.NOT_RECORDED).
    if base.dataset.startswith("embedded"):
        return ("the embedded generated dataset (synthetic shapes and textures in ILSVRC-2012's layout), **not "
                f"ImageNet**: {counts}")
    return f"{'ILSVRC-2012' if base.dataset == 'imagenet' else f'`{base.dataset}` (**not ImageNet**)'}: {counts}"


def _summary(r: _Report) -> list:
    base = r.base
    counts = sorted({len(res.seeds) for res in r.found.values()})
    seeds = _seeds(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]} seeds"
    runs = [run for res in r.found.values() for run in res.runs.values()]
    wall = sum(run.history["wall_s"][-1] for run in runs if run.history.get("wall_s"))
    blocks = [Heading(TITLE, 1), Paragraph(
        f"We trained {len(r.found)} experiments, {seeds} each, on {_data_words(base, r.store_dir)}. "
        f"Hardware: {base.provenance['hardware']}. Training took {_duration(wall)} in all ({len(runs)} runs). "
        f"These numbers check that the pipeline and the ablations work"
        f"{'' if base.dataset == 'imagenet' else '; they are **not comparable to ImageNet** numbers'}."),
        Paragraph(_setup_words(r))]
    if r.skipped:
        blocks.append(Paragraph("Skipped results (another dataset or profile, or unreadable): "
                                + "; ".join(f"`{s}`" for s in r.skipped) + "."))
    return blocks


def _setup_words(r: _Report) -> str:
    cfg, h = _config(r.base), r.base.runs[r.base.seeds[0]].history
    model, spec = cfg.get("model", {}), confounds.model_spec(cfg.get("model", {}))
    steps = f" of {h['step'][0]:.0f} steps" if h.get("step") else ""
    return (f"Profile `{r.base.profile}`: images decoded at {cfg.get('data', {}).get('image_size', 256)} px, "
            f"{spec.input_size}-px crops (feature maps {confounds.feature_maps(spec)} at conv1, pool1, pool2, pool5), "
            f"width {model.get('width', 1.0)}, init `{model.get('init', 'paper')}`, batch "
            f"{cfg.get('data', {}).get('batch_size', '?')}, {len(h.get('epoch', []))} epochs{steps}. Error rates in "
            f"%, `{r.mode}` evaluation unless named (`center`: one centre patch; `ten_crop`: the paper's ten patches "
            "with averaged softmax; ensemble: the softmax averaged over an experiment's seeds). Mean ± std is over "
            "seeds (sample std).")


def _tables(r: _Report) -> list:
    base, m = r.base, r.base.metrics
    ours = f"ours, {r.mode}, {_seeds(len(base.seeds))}{_comparable(base)}"
    rows1 = [[name, f"{a:.1f}", f"{b:.1f}", "paper"] for name, a, b in paper.TABLE1]
    rows1.append(["CNN", _mean_std(_per_seed(base, r.mode)), _mean_std(_per_seed(base, r.mode, "err_top5")), ours])
    rows2 = [[name, "-" if a is None else f"{a:.1f}", "-" if b is None else f"{b:.1f}",
              "-" if c is None else f"{c:.1f}", "paper"] for name, a, b, c in paper.TABLE2]
    for crop in ("center", "ten_crop"):
        rows2.append(["1 CNN", _mean_std(_per_seed(base, crop)), _mean_std(_per_seed(base, crop, "err_top5")), "-",
                      f"ours, {crop}, {_seeds(len(base.seeds))}{_comparable(base)}"])
    if len(base.seeds) > 1:
        rows2.append([f"{len(base.seeds)} CNNs", pct(m[r.mode]["err_top1"]), pct(m[r.mode]["err_top5"]), "-",
                      f"ours, {r.mode}, ensemble of the seeds{_comparable(base)}"])
    rows2 += [[name, f"{a:.1f}", f"{b:.1f}", "-", "later reference, centre crop"] for name, a, b in paper.LATER]
    return [Heading("Table 1 (ILSVRC-2010 test in the paper)"),
            Table(["model", "top-1", "top-5", "source"], rows1),
            Paragraph("Our rows are validation-set errors; the paper's Table 1 is the ILSVRC-2010 test set."),
            Heading("Table 2 (ILSVRC-2012 in the paper)"),
            Table(["model", "top-1 (val)", "top-5 (val)", "top-5 (test)", "source"], rows2)]


def _ordered(r: _Report) -> list[str]:
    """The ablations: the paper's in its order, then the others by name."""
    others = [n for n in r.found if n != r.baseline]
    return [n for n in paper.ABLATIONS if n in others] + sorted(n for n in others if n not in paper.ABLATIONS)


def _spread_words(r: _Report) -> str:
    n = len(r.base.seeds)
    if n == 1:
        return ("With one seed per experiment the seed-to-seed spread cannot be measured, so no effect below can be "
                "told apart from the difference another seed would make.")
    return (f"The same experiment trained with another seed gives another error: the baseline's {n} seeds have a "
            f"{r.mode} top-1 std of {_spread(r.base, r.mode)} points. An ablation effect not clearly larger than "
            "this spread says little, whatever its sign.")


def _seed_spread(r: _Report) -> list:
    rows = [(name, [e * 100 for e in _per_seed(r.found[name], r.mode)]) for name in [r.baseline, *_ordered(r)]]
    path = figures.seed_strip(rows, r.fig_dir / "seed_strip.png", f"{r.mode} top-1 error (%)")
    return [Heading("Seed-to-seed variation"),
            Paragraph(_spread_words(r)),
            Figure(path, f"{r.mode} top-1 error of every seed (dots) and their mean (bar), per experiment.")]


def _verdict_cell(effect: Effect, sign: int | None, confounded: str = "") -> str:
    """stats.verdict, except that a confounded comparison is no test of the paper's claim: its interval is
    described, not judged."""
    said = verdict(effect, sign)
    if not confounded or said not in ("agrees", "contradicts"):
        return said
    side = "on the paper's side of zero" if said == "agrees" else "on the other side of zero from the paper"
    return f"none, confounded ({confounded}); the interval lies {side}"


def _ablation_notes(r: _Report, names: list[str]) -> dict[str, list[tuple[int, confounds.Note]]]:
    """Numbered notes on what else each ablation changes, numbered in table order."""
    numbered, counter = {}, 0
    base_model = _config(r.base).get("model", {})
    for name in names:
        numbered[name] = []
        for note in confounds.notes(base_model, _config(r.found[name]).get("model", {})):
            counter += 1
            numbered[name].append((counter, note))
    return numbered


def _ablations(r: _Report) -> list:
    names = _ordered(r)
    notes = _ablation_notes(r, names)
    rows, chart = [], []
    for name in names:
        e1, e5 = r.effect(r.baseline, name)
        section, p1, _, words, sign = paper.ABLATIONS.get(name, ("-", None, None, "not in the paper", None))
        refs = ", ".join(str(i) for i, _ in notes[name]) or "-"
        confounded = [str(i) for i, n in notes[name] if n.confound]
        rows.append([name, section, words, _interval(e1), _interval(e5), _spread(r.base, r.mode),
                     f"{e1.seeds_a} / {e1.seeds_b}",
                     _verdict_cell(e1, sign, f"note {', '.join(confounded)}" if confounded else ""), refs])
        star = "*" if confounded else ""
        chart.append((name + star, e1.point * 100, e1.low * 100, e1.high * 100, p1))
    if not rows:
        return [Heading("Ablations"), Paragraph("No ablation was evaluated beside the baseline.")]
    h = r.base.runs[r.base.seeds[0]].history
    blocks = [Heading("Ablations: change in error when a feature is removed"),
              Paragraph(f"Ours: {r.mode} error of the ablation minus the baseline's, on the same "
                        f"{r.base.metrics['num_images']} validation images, in points; positive means removing the "
                        f"feature hurts. {VERDICT_RULE} The verdict (on top-1) compares the side of zero the "
                        "interval lies on with the direction the paper reports. Beside each effect, the baseline's "
                        "seed-to-seed std of top-1 error, for scale."),
              Table(["ablation", "paper §", "paper's effect", "ours Δ top-1 [95% CI]", "ours Δ top-5 [95% CI]",
                     "baseline seed std", "seeds (base / abl.)", "verdict (top-1)", "notes"], rows)]
    all_notes = [f"`{name}`: {note.text}" for name in names for _, note in notes[name]]
    if all_notes:
        blocks += [Paragraph("Notes: what else each comparison changes. A confounded comparison is not a test of the "
                             "paper's number, so it gets no verdict."), Items(all_notes)]
    blocks.append(Paragraph(f"Effects are measured after {len(h.get('epoch', []))} epochs, not at the paper's ~90: a "
                            "feature that slows early learning but helps at convergence (the paper says dropout "
                            "roughly doubles the iterations needed) can show the opposite sign this early."))
    blocks.append(Figure(figures.ablation_deltas(chart, r.fig_dir / "ablation_deltas.png"),
                         "Change in top-1 error against the baseline: ours with 95% intervals from the bootstrap over "
                         "seeds and images, the paper's as x; * confounded (see the notes)."))
    return blocks


def _reach_table(nets: list[tuple[str, R.ExperimentResult]], threshold: float) -> tuple[list, dict]:
    """Steps to the level per seed (table rows) and the Reach values, per named net."""
    reaches, rows = {}, []
    for label, result in nets:
        reaches[label] = [speed.steps_to_threshold(h["step"], h["train/err_top1"], threshold)
                          for h in _histories(result)]
        cells = [f"{s}: {reach}" for s, reach in zip(result.seeds, reaches[label])]
        rows.append([label, ", ".join(cells), str(speed.mean_reach(reaches[label]))])
    return rows, reaches


def _ratio_words(ratio: speed.Ratio | None, paper_ratio: float) -> str:
    if ratio is None:
        return "ReLU never reached the level, so there is no ratio"
    if ratio.relation == "?":
        return "the ratio cannot be bounded: seeds of both nets stopped short of the level"
    return (f"tanh needed **{ratio}** as many steps as ReLU (ratio of the means over seeds; the paper: about "
            f"{paper_ratio:.0f}x)")


def _relu_vs_tanh(r: _Report) -> list:
    """The paper's Figure 1: steps to a training-error level, ReLU (the baseline) against tanh."""
    if "tanh" not in r.found:
        return []
    level, paper_ratio = paper.FIGURE1
    rows, reach = _reach_table([("ReLU (baseline)", r.base), ("tanh", r.found["tanh"])], r.threshold)
    ratio = speed.ratio_of_means(reach["tanh"], reach["ReLU (baseline)"])
    said = _ratio_words(ratio, paper_ratio)
    path = figures.relu_vs_tanh(_histories(r.base), _histories(r.found["tanh"]), r.threshold,
                                r.fig_dir / "relu_vs_tanh.png")
    return [Heading("Section 3.1, Figure 1: ReLU against tanh"),
            Paragraph(f"Training steps until the training top-1 error first reaches {r.threshold:.0%} "
                      f"(`relu_tanh_threshold`), interpolated between the per-epoch values; '>' marks a seed that "
                      f"never reached it (a lower bound), '<=' one already there at its first epoch. The paper: a "
                      f"four-layer net on CIFAR-10 reached {level:.0%} training error {paper_ratio:.0f}x faster with "
                      f"ReLUs; a different net and data, so only the direction is comparable. Here {said}."),
            Table(["net", "steps per seed", "mean"], rows),
            Figure(path, "Training error against steps, ReLU solid and tanh dashed, one line per seed; the grey line "
                         "is the level.")]


def _lrn_words(base: R.ExperimentResult) -> str:
    spec = confounds.model_spec(_config(base).get("model", {})).lrn
    scale = spec.alpha / spec.size if spec.alpha_over_n else spec.alpha
    squares = 0.01 * spec.k / scale if scale else float("inf")
    init = _config(base).get("model", {}).get("init", "paper")
    return (f"The baseline's LRN divides each activation by (k + α'·Σa²)^β with k = {spec.k:g}, α' = {scale:g} "
            f"(α = {spec.alpha:g}{' over n' if spec.alpha_over_n else ''}), n = {spec.size}, β = {spec.beta:g}. The "
            f"window term moves that denominator by 1% only once Σa² over the {spec.size} channels reaches "
            f"{squares:,.0f}, a root-mean-square activation of {np.sqrt(squares / spec.size):.0f}. With `{init}` init "
            "and unit-scale input, activations are expected to be of order one, far below that: LRN then acts "
            f"almost as the constant gain k^-β = {spec.k ** -spec.beta:.2f} per use (after conv1 and conv2), and "
            "`lrn_gain` − baseline below should be near zero. Removing LRN (`no_lrn`) therefore also removes that "
            "gain and changes the scale of the signal every later layer sees, which the paper's comparison did not "
            "isolate. The control `lrn_gain` keeps that gain and drops the normalisation: `lrn_gain` − baseline is "
            "normalisation alone (what the paper's +1.4 should be compared with), `no_lrn` − `lrn_gain` is scale "
            "alone.")


def _lrn(r: _Report) -> list:
    """Section 3.3: how much of no_lrn's effect is normalisation, and how much is LRN's constant gain."""
    if "no_lrn" not in r.found and "lrn_gain" not in r.found:
        return []
    blocks = [Heading("Section 3.3: local response normalisation, or its scale?"), Paragraph(_lrn_words(r.base))]
    if "lrn_gain" not in r.found or "no_lrn" not in r.found:
        missing = "lrn_gain" if "lrn_gain" not in r.found else "no_lrn"
        return blocks + [Paragraph(f"The `{missing}` run was not evaluated, so the two effects cannot be separated: "
                                   "`no_lrn` − baseline mixes normalisation and scale and is not compared with the "
                                   "paper's +1.4.")]
    _, p1, p5, _, sign = paper.ABLATIONS["no_lrn"]
    claim = f"+{p1} / +{p5}"
    comparisons = [("`lrn_gain` − baseline", "normalisation alone", r.baseline, "lrn_gain", claim, sign, ""),
                   ("`no_lrn` − `lrn_gain`", "scale alone (the gain)", "lrn_gain", "no_lrn", "-", None, ""),
                   ("`no_lrn` − baseline", "both (the paper's experiment)", r.baseline, "no_lrn", claim, sign,
                    "by the scale")]
    rows = []
    for label, isolates, a, b, claimed, paper_sign, confounded in comparisons:
        e1, e5 = r.effect(a, b)
        rows.append([label, isolates, claimed, _interval(e1), _interval(e5), f"{e1.seeds_a} / {e1.seeds_b}",
                     _verdict_cell(e1, paper_sign, confounded)])
    return blocks + [Table(["comparison", "isolates", "paper top-1 / top-5", "ours Δ top-1 [95% CI]",
                            "ours Δ top-5 [95% CI]", "seeds", "verdict (top-1)"], rows)]


def _figure3(r: _Report) -> list:
    base = r.base
    if base.conv1 is None:
        return [Heading("Figure 3: the baseline's conv1 kernels"), Paragraph("The result holds no conv1 kernels.")]
    cfg = _config(base).get("model", {})
    trained = kernels.low_frequency_share(base.conv1)
    fresh = [kernels.low_frequency_share(kernels.initial_conv1(cfg, len(base.classes), s)) for s in INIT_SEEDS]
    rows = [[f"trained (baseline, {base.seeds[0]})", f"{trained:.1%}"],
            [f"freshly initialised (`{cfg.get('init', 'paper')}`, torch seeds {', '.join(map(str, INIT_SEEDS))})",
             f"{np.mean(fresh):.1%} (range {min(fresh):.1%} to {max(fresh):.1%})"],
            ["white noise (expected)", f"{kernels.white_noise_share(base.conv1.shape[-1]):.1%}"]]
    return [Heading("Figure 3: the baseline's conv1 kernels"),
            Figure(figures.conv1_kernels(base.conv1, base.towers, r.fig_dir / "conv1_kernels.png"),
                   "conv1 kernels, one panel per tower (the paper: tower 1 largely colour-agnostic, tower 2 "
                   "colour-specific)."),
            Paragraph(f"Learned or random? For each kernel, the share of its spectral energy (|2-D DFT|², each colour "
                      f"channel's mean removed, channels summed) within {kernels.LOW_RADIUS:g} cycles per kernel width "
                      "of zero frequency, averaged over the kernels. Smooth, oriented filters like the paper's put "
                      "most of their energy there; random kernels spread it over all frequencies."),
            Table(["conv1", "low-frequency share"], rows)]


def _thumb(reader: ShardReader, i: int, side: int, crop: int) -> np.ndarray:
    """The centre patch the net saw: the image decoded at `side`, cropped to `crop`."""
    offset = (side - crop) // 2
    return reader.image(i, side)[offset:offset + crop, offset:offset + crop]


def _figure4(r: _Report) -> list:
    base, feats = r.base, r.base.features
    if "train" not in feats or not len(feats["train"]):
        return [Heading("Figure 4: predictions and nearest neighbours in fc7 space"),
                Paragraph("Evaluation kept no training-image features (`features_train_max: 0`), so there are no "
                          "neighbours to show.")]
    cfg = _config(base)
    side, crop = cfg.get("data", {}).get("image_size", 256), cfg.get("model", {}).get("input_size", 227)
    val_reader, train_reader = ShardReader(r.store_dir, "val"), ShardReader(r.store_dir, "train")
    val_pos = {n: i for i, n in enumerate(val_reader.names)}
    train_pos = {n: i for i, n in enumerate(train_reader.names)}
    words = [c["words"].replace("generated ", "") for c in base.classes]
    picks = np.linspace(0, len(feats["val"]) - 1, r.n_queries).astype(int)
    near = neighbours.nearest(feats["train"], feats["val"], r.n_neighbours)  # every query: the rate below
    queries, shown = [], []
    for i, order in zip(picks, near[picks]):
        guesses = [words[int(c)] for c in base.top5[r.mode][0][i]]
        caption = (f"true: {words[int(feats['val_labels'][i])]}\ntop-5:\n"
                   + "\n".join(f" {k + 1}. {g}" for k, g in enumerate(guesses)))
        queries.append((_thumb(val_reader, val_pos[str(feats["val_names"][i])], side, crop), caption))
        shown.append([_thumb(train_reader, train_pos[str(feats["train_names"][j])], side, crop) for j in order])
    rate = neighbours.same_class_rate(near, feats["val_labels"], feats["train_labels"])
    chance = neighbours.chance_rate(feats["val_labels"], feats["train_labels"])
    return [Heading("Figure 4: predictions and nearest neighbours in fc7 space"),
            Figure(figures.nearest_neighbours(queries, shown, r.fig_dir / "nearest_neighbours.png"),
                   f"Validation images with the baseline's ({base.seeds[0]}) top-5 predictions, and the training "
                   f"images nearest to each by Euclidean distance between {feats['val'].shape[1]}-d fc7 activations."),
            Paragraph(f"Over all {len(feats['val'])} validation images, **{rate:.1%}** of the {r.n_neighbours} "
                      f"nearest training images (of {len(feats['train'])}) share the query's class; chance, for "
                      f"training images drawn at random, is {chance:.1%} (1/{len(base.classes)} = "
                      f"{1 / len(base.classes):.1%} for balanced classes).")]


def _curves(r: _Report) -> list:
    histories = {name: _histories(res) for name, res in r.found.items()}
    return [Heading("Training curves"),
            Figure(figures.training_curves(histories, r.fig_dir / "training_curves.png"),
                   "Top-1 error per epoch for every experiment, one line per seed.")]


def _settings(cfg: dict) -> str:
    model, data = cfg.get("model", {}), cfg.get("data", {})
    return (f"width {model.get('width', '?')}, input {model.get('input_size', '?')}, init {model.get('init', '?')}, "
            f"batch {data.get('batch_size', '?')}, lr {cfg.get('optim', {}).get('lr', '?')}")


def _run_facts(r: _Report) -> list:
    facts = []
    for name, result in r.found.items():
        for s, run in result.runs.items():
            h, url = run.history, run.summary.get("wandb_url")
            facts.append([f"[{name}]({url})" if url else name, s, str(len(h.get("epoch", []))),
                          f"{h['step'][-1]:.0f}" if h.get("step") else "-",
                          f"{h['wall_s'][-1]:.0f}" if h.get("wall_s") else "-",
                          f"{np.nanmean(h['train/images_per_s']):.0f}" if h.get("train/images_per_s") else "-",
                          _settings(run.config)])
    commits = sorted({res.provenance["git_commit"] for res in r.found.values()})
    p = r.base.provenance
    return [Heading("Run facts"),
            Table(["experiment", "seed", "epochs", "steps", "train wall s", "train images/s", "settings"], facts),
            Paragraph(f"Hardware: {p['hardware']}."),
            Paragraph(f"Packages: {p['versions']}."),
            Paragraph(f"Code: git {'; '.join(commits)}. Data: store fingerprint {p['data_fingerprint']}.")]
