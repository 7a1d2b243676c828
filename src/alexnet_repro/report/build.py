"""Assemble reports/: the paper's tables with our rows, the ablation deltas with confidence intervals,
Figure 1's question, Figures 3 and 4, training curves and run facts. Reads results/ (results.py) and, for
Figure 4's thumbnails, the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alexnet_repro import results as R
from alexnet_repro.atomic import atomic_dir, atomic_path
from alexnet_repro.data.store import ShardReader, read_info
from alexnet_repro.report import figures, paper
from alexnet_repro.report.document import Figure, Heading, Paragraph, Table, to_html, to_markdown
from alexnet_repro.report.stats import epochs_to_threshold, paired_bootstrap, verdict


def pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x * 100:+.1f}" if signed else f"{x * 100:.1f}"


def _wall_at(history: dict, epochs: float) -> float:
    """Wall seconds at a fractional epoch count, from the per-epoch wall times."""
    walls = history["wall_s"]
    whole = int(epochs)
    before = walls[whole - 1] if whole >= 1 else 0.0
    return before if epochs == whole else before + (epochs - whole) * (walls[whole] - before)


def _relu_vs_tanh(relu: dict, tanh: dict, classes: int, fig_dir: Path) -> list:
    """Figure 1's question. The paper's level is 25% training error; when a short run cannot reach it, the
    level is halfway between chance and the best ReLU reached, and a net that never reaches it gets a bound."""
    chance = 1 - 1 / classes
    best_relu = min(relu["train/err_top1"])
    threshold = 0.25 if best_relu <= 0.25 else round((chance + best_relu) / 2, 3)
    er = epochs_to_threshold(relu["train/err_top1"], threshold)
    et = epochs_to_threshold(tanh["train/err_top1"], threshold)
    n = len(tanh["train/err_top1"])
    if er and et:
        tanh_part = (f"tanh after {et:.2f}: **{et / er:.2f}x** as many epochs and "
                     f"**{_wall_at(tanh, et) / _wall_at(relu, er):.2f}x** the wall time")
    elif er:
        tanh_part = f"tanh did not reach it in {n} epochs: **more than {n / er:.1f}x** as many"
    else:
        tanh_part = "tanh did not either"
    reached = f"after {er:.2f} epochs" if er else f"not within {len(relu['train/err_top1'])} epochs"
    text = (f"Training error level {threshold:.1%} (the paper: 25% on CIFAR-10, where tanh needed 6x the "
            f"iterations of ReLU). ReLU reached it {reached}; {tanh_part}.")
    return [Heading("Figure 1's question: ReLU vs tanh"), Paragraph(text),
            Figure(figures.relu_vs_tanh(relu, tanh, threshold, fig_dir / "relu_vs_tanh.png"),
                   "Training error per epoch, ReLU (baseline) and tanh.")]


def _thumb(reader: ShardReader, i: int) -> np.ndarray:
    return reader.image(i)[14:241, 14:241]  # the centre patch the net saw


def build_report(results_dir: str | Path, store_dir: str | Path, out_dir: str | Path, baseline: str = "baseline",
                 samples: int = 2000, seed: int = 0, dataset: str = "embedded", profile: str = "embedded",
                 mode: str = "ten_crop", neighbours: int = 5, queries: int = 4) -> Path:
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    found, skipped = R.load_all(results_dir, dataset, profile)
    if baseline not in found:
        raise FileNotFoundError(f"{results_dir / baseline / R.RESULT_JSON} (dataset {dataset}, profile {profile}) is "
                                "missing: the report compares every ablation with the baseline, so evaluate it first")
    info = read_info(store_dir)
    with atomic_dir(out_dir / "figures") as fig_dir:
        blocks = _document(found, skipped, info, fig_dir, baseline, samples, seed, dataset, profile, mode,
                           neighbours, queries)
    final = [b if not isinstance(b, Figure) else Figure(out_dir / "figures" / b.path.name, b.caption) for b in blocks]
    with atomic_path(out_dir / "README.md") as tmp:
        tmp.write_text(to_markdown(final, out_dir))
    with atomic_path(out_dir / "report.html") as tmp:
        tmp.write_text(to_html(final, "alexnet-repro: comparison with Krizhevsky et al. (2012)"))
    return out_dir / "README.md"


def _history(result: R.ExperimentResult) -> dict[str, list[float]]:
    return result.runs[result.seeds[0]].history


def _intro(base: R.ExperimentResult, info, dataset: str, profile: str, skipped: list[str]) -> list:
    blocks: list = [Heading("alexnet-repro: our AlexNet beside Krizhevsky, Sutskever & Hinton (2012)", 1)]
    if dataset.startswith("embedded"):
        blocks.append(Paragraph(
            "**These numbers come from the embedded, generated dataset** (synthetic shapes and textures, "
            f"{info.num_classes} classes, {info.splits['train']['count']} training and "
            f"{info.splits['val']['count']} validation images, in ILSVRC-2012's file layout). "
            "They check that the pipeline and the ablations work; they are **not comparable to ImageNet** "
            "numbers. Run with `dataset: imagenet` (README) to regenerate the paper's tables."))
    blocks.append(Paragraph(f"Dataset `{dataset}`, profile `{profile}`, {len(base.seeds)} seed(s) per experiment; "
                            "error rates in %. `centre` = one 227x227 centre patch; `ten-crop` = the paper's ten "
                            "patches with averaged softmax (section 4.1); `ensemble` = averaged softmax of all seeds."))
    if skipped:
        blocks.append(Paragraph("Skipped results (another dataset or profile, or unreadable): "
                                + "; ".join(f"`{s}`" for s in skipped) + "."))
    return blocks


def _tables(base: R.ExperimentResult, dataset: str, profile: str, mode: str) -> list:
    tag = f"ours: data {dataset}, profile {profile}"
    m = base.metrics
    blocks = [Heading("Table 1 (ILSVRC-2010 test in the paper)"),
              Table(["model", "top-1", "top-5", "source"],
                    [[name, f"{a:.1f}", f"{b:.1f}", "paper"] for name, a, b in paper.TABLE1] +
                    [["CNN", pct(m[mode]["err_top1"]), pct(m[mode]["err_top5"]), f"{tag}, {mode}"]])]
    rows2 = [[name, "-" if a is None else f"{a:.1f}", "-" if b is None else f"{b:.1f}",
              "-" if c is None else f"{c:.1f}", "paper"] for name, a, b, c in paper.TABLE2]
    for crop in ("center", "ten_crop"):
        s0 = m["per_seed"][base.seeds[0]][crop]
        rows2.append(["1 CNN", pct(s0["err_top1"]), pct(s0["err_top5"]), "-", f"{tag}, {crop}"])
    if len(base.seeds) > 1:
        rows2.append([f"{len(base.seeds)} CNNs", pct(m[mode]["err_top1"]), pct(m[mode]["err_top5"]), "-",
                      f"{tag}, {mode} ensemble"])
    rows2 += [[name, f"{a:.1f}", f"{b:.1f}", "-", "later reference, centre crop"] for name, a, b in paper.LATER]
    return blocks + [Heading("Table 2 (ILSVRC-2012 in the paper)"),
                     Table(["model", "top-1 (val)", "top-5 (val)", "top-5 (test)", "source"], rows2)]


def _ablations(found: dict[str, R.ExperimentResult], baseline: str, samples: int, seed: int, mode: str,
               profile: str, fig_dir: Path) -> list:
    """Paired bootstrap of each ablation against the baseline on the same validation images."""
    base = found[baseline]
    base1, base5 = base.errors(mode)
    table, chart = [], []
    for name, result in found.items():
        if name == baseline:
            continue
        e1, e5 = result.errors(mode)
        d1 = paired_bootstrap(base1, e1, samples, seed)
        d5 = paired_bootstrap(base5, e5, samples, seed)
        section, p1, p5, words, sign = paper.ABLATIONS.get(name, ("-", None, None, "not in the paper", None))
        table.append([name, section, words, f"{pct(d1[0], True)} [{pct(d1[1], True)}, {pct(d1[2], True)}]",
                      f"{pct(d5[0], True)} [{pct(d5[1], True)}, {pct(d5[2], True)}]", verdict(d1[1], d1[2], sign)])
        chart.append((name, d1[0] * 100, d1[1] * 100, d1[2] * 100, p1))
    seeds = len(base.seeds)
    blocks = [Heading("Ablations: change in error when a feature is removed"),
              Paragraph(f"Ours: {mode} error of the ablation minus the baseline's, on the same "
                        f"{base.metrics['num_images']} validation images; 95% interval from a paired bootstrap over "
                        f"images{' and seeds' if seeds > 1 else ''} ({samples} draws). Verdict on top-1: **agrees** "
                        "when the interval lies on the paper's side of zero, **contradicts** when on the other, "
                        "otherwise **inconclusive**."),
              Table(["ablation", "paper §", "paper's effect", "ours Δ top-1 [95% CI]", "ours Δ top-5 [95% CI]",
                     "verdict"], table)]
    if profile != "paper":
        blocks.append(Paragraph(
            f"These are effects after {len(_history(base).get('epoch', []))} epochs of a narrow net, far from "
            "convergence: features that slow early learning but help in the end can show the opposite sign here. "
            "Dropout is one: the paper notes it roughly doubles the iterations needed to converge."))
    if chart:
        blocks.append(Figure(figures.ablation_deltas(chart, fig_dir / "ablation_deltas.png"),
                             "Change in top-1 error against the baseline, ours with 95% intervals, paper's as x."))
    return blocks


def _figure4(base: R.ExperimentResult, info, fig_dir: Path, mode: str, n_neighbours: int, n_queries: int) -> list:
    feats = base.features
    val_reader, train_reader = ShardReader(info.folder, "val"), ShardReader(info.folder, "train")
    words = [c["words"].replace("generated ", "") for c in base.classes]
    picks = np.linspace(0, len(feats["val"]) - 1, n_queries).astype(int)
    train_f = feats["train"].astype(np.float32)
    train_pos = {n: i for i, n in enumerate(train_reader.names)}
    queries, near = [], []
    for i in picks:
        dist = ((train_f - feats["val"][i].astype(np.float32)) ** 2).sum(1)
        order = np.argsort(dist, kind="stable")[:n_neighbours]
        guesses = [words[int(c)] for c in base.ensemble_top5[mode][i]]
        caption = (f"true: {words[int(feats['val_labels'][i])]}\ntop-5:\n"
                   + "\n".join(f" {k + 1}. {g}" for k, g in enumerate(guesses)))
        queries.append((_thumb(val_reader, i), caption))
        near.append([_thumb(train_reader, train_pos[str(feats["train_names"][j])]) for j in order])
    return [Heading("Figure 4: predictions and nearest neighbours in fc7 space"),
            Figure(figures.nearest_neighbours(queries, near, fig_dir / "nearest_neighbours.png"),
                   "Validation images with the baseline's top-5 predictions, and the training images nearest "
                   "to each by Euclidean distance between 4096-d (here width-scaled) fc7 activations.")]


def _run_facts(found: dict[str, R.ExperimentResult], base: R.ExperimentResult) -> list:
    facts = []
    for name, result in found.items():
        for s, run in result.runs.items():
            h, cfg, url = run.history, run.config, run.summary.get("wandb_url")
            model = cfg.get("model", {})
            facts.append([f"[{name}]({url})" if url else name, s, str(len(h.get("epoch", []))),
                          f"{h['wall_s'][-1]:.0f}" if h.get("wall_s") else "-",
                          f"{np.nanmean(h['train/images_per_s']):.0f}" if h.get("train/images_per_s") else "-",
                          f"width {model.get('width', '?')}, init {model.get('init', '?')}, batch "
                          f"{cfg.get('data', {}).get('batch_size', '?')}, lr {cfg.get('optim', {}).get('lr', '?')}"])
    p = base.provenance
    return [Heading("Run facts"),
            Table(["experiment", "seed", "epochs", "train wall s", "train images/s", "settings"], facts),
            Paragraph(f"Hardware: {p['hardware']}."),
            Paragraph(f"Packages: {p['versions']}."),
            Paragraph(f"Code: git {p['git_commit']}. Data: store fingerprint {p['data_fingerprint']}."),
            Paragraph("What the embedded profile scales down (conf/profile/embedded.yaml): the width of every "
                      "layer, the number of epochs, the batch size and the dataset; the topology, LRN, "
                      "pooling, dropout, PCA lighting and the SGD settings are the paper's. It initialises with "
                      "Kaiming's scheme on unit-scale input, because the paper's N(0, 0.01) init stays at "
                      "chance for the few epochs a CPU allows (Caffe's reference hit the same flat start).")]


def _document(found, skipped, info, fig_dir, baseline, samples, seed, dataset, profile, mode, n_neighbours,
              n_queries) -> list:
    base = found[baseline]
    blocks = _intro(base, info, dataset, profile, skipped) + _tables(base, dataset, profile, mode)
    blocks += _ablations(found, baseline, samples, seed, mode, profile, fig_dir)
    if "tanh" in found:
        blocks += _relu_vs_tanh(_history(base), _history(found["tanh"]), info.num_classes, fig_dir)
    blocks += [Heading("Figure 3: the baseline's conv1 kernels"),
               Figure(figures.conv1_kernels(base.conv1, base.towers, fig_dir / "conv1_kernels.png"),
                      "conv1 kernels, one panel per tower (the paper: tower 1 largely colour-agnostic, tower 2 "
                      "colour-specific).")]
    blocks += _figure4(base, info, fig_dir, mode, n_neighbours, n_queries)
    blocks += [Heading("Training curves"),
               Figure(figures.training_curves({n: _history(r) for n, r in found.items()},
                                              fig_dir / "training_curves.png"),
                      "Top-1 error per epoch for every experiment.")]
    return blocks + _run_facts(found, base)
