"""The report's measures (Figure 1's steps, Figure 3's low-frequency share, Figure 4's neighbour rate, the confound
notes) and the report itself on fabricated results whose effects are known: no training here."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from alexnet_repro import results
from alexnet_repro.data.store import ShardReader
from alexnet_repro.report import confounds, kernels, neighbours, speed
from alexnet_repro.report.build import _thumb, _verdict_cell, build_report
from alexnet_repro.report.stats import VERDICT_RULE, Effect

SMALL_MODEL = {"width": 0.25, "init": "kaiming", "input_size": 115}


# --- Figure 3: low-frequency share ------------------------------------------------------------------------------

def _blobs_and_gratings(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3, 11, 11): half Gaussian blobs off centre, half oriented gratings of 1 to 2 cycles per kernel."""
    y, x = np.mgrid[0:11, 0:11] - 5.0
    out = []
    for i in range(n):
        if i % 2:
            cy, cx, s = *rng.uniform(-3, 3, 2), rng.uniform(1.5, 3)
            k = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s**2))
        else:
            angle, cycles = rng.uniform(0, np.pi), rng.uniform(1, 2)
            k = np.cos(2 * np.pi * cycles / 11 * (x * np.cos(angle) + y * np.sin(angle)) + rng.uniform(0, np.pi))
        out.append(k[None] * rng.uniform(-1, 1, (3, 1, 1)))
    return np.stack(out)


def test_smooth_kernels_have_a_higher_low_frequency_share_than_white_noise():
    rng = np.random.default_rng(0)
    smooth = kernels.low_frequency_share(_blobs_and_gratings(rng, 64))
    noise = kernels.low_frequency_share(rng.standard_normal((400, 3, 11, 11)))
    assert kernels.white_noise_share(11) == pytest.approx(12 / 120)  # 12 of the 120 non-zero bins lie within 2
    assert noise == pytest.approx(kernels.white_noise_share(11), abs=0.01)
    assert smooth > 0.6 > 0.15 > noise
    # a constant kernel has no structure: NaN, and left out of the mean rather than counted as 0 or 1
    flat = np.ones((1, 3, 11, 11))
    assert np.isnan(kernels.low_frequency_shares(flat)[0])
    assert kernels.low_frequency_share(np.concatenate([flat, _blobs_and_gratings(rng, 4)])) > 0.6


def test_low_frequency_share_separates_a_kaiming_conv1_from_a_smoothed_one():
    fresh = kernels.initial_conv1(SMALL_MODEL, num_classes=10, seed=0)
    assert fresh.shape == (24, 3, 11, 11)
    smoothed = gaussian_filter(fresh, sigma=(0, 0, 1.5, 1.5))
    assert kernels.low_frequency_share(fresh) < 0.15 < 0.5 < kernels.low_frequency_share(smoothed)


def test_initial_conv1_is_seeded_and_leaves_the_global_rng_alone():
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = kernels.initial_conv1(SMALL_MODEL, 10, seed=1)
    assert torch.equal(torch.rand(3), expected)
    np.testing.assert_array_equal(a, kernels.initial_conv1(SMALL_MODEL, 10, seed=1))
    assert not np.array_equal(a, kernels.initial_conv1(SMALL_MODEL, 10, seed=2))


# --- Figure 4: neighbour class rate ------------------------------------------------------------------------------

def test_neighbour_rate_is_one_for_clusters_and_chance_for_noise():
    rng = np.random.default_rng(1)
    classes, dim = 10, 32
    centres = rng.normal(0, 10, (classes, dim))
    train_labels, val_labels = np.repeat(np.arange(classes), 40), np.repeat(np.arange(classes), 30)
    near = neighbours.nearest(centres[train_labels] + rng.normal(0, 1, (len(train_labels), dim)),
                              centres[val_labels] + rng.normal(0, 1, (len(val_labels), dim)), 5)
    clustered = neighbours.same_class_rate(near, val_labels, train_labels)
    near = neighbours.nearest(rng.normal(size=(len(train_labels), dim)), rng.normal(size=(len(val_labels), dim)), 5)
    random = neighbours.same_class_rate(near, val_labels, train_labels)
    assert neighbours.chance_rate(val_labels, train_labels) == pytest.approx(1 / classes)
    assert clustered > 0.98
    assert random == pytest.approx(1 / classes, abs=0.03)


def test_nearest_matches_brute_force_and_chance_follows_class_frequencies():
    rng = np.random.default_rng(2)
    train, queries = rng.normal(size=(300, 16)).astype(np.float16), rng.normal(size=(600, 16)).astype(np.float16)
    brute = np.argsort(((train[None].astype(np.float64) - queries[:, None]) ** 2).sum(-1), axis=1)[:, :5]
    np.testing.assert_array_equal(neighbours.nearest(train, queries, 5), brute)
    # three quarters of the training images are class 0: random neighbours of a class-0 query share it 75% of the time
    assert neighbours.chance_rate(np.array([0, 1]), np.array([0, 0, 0, 1])) == pytest.approx((0.75 + 0.25) / 2)


# --- Figure 1: steps to a training-error level ---------------------------------------------------------------------

def test_steps_to_threshold_interpolates_and_bounds():
    steps = [41.0, 82.0, 123.0]
    assert speed.steps_to_threshold(steps, [0.9, 0.6, 0.4], 0.5) == speed.Reach(102.5)
    assert speed.steps_to_threshold(steps, [0.9, 0.8, 0.7], 0.5) == speed.Reach(123.0, ">")
    assert speed.steps_to_threshold(steps, [0.4, 0.3, 0.2], 0.5) == speed.Reach(41.0, "<=")
    assert str(speed.Reach(123.0, ">")) == "> 123" and str(speed.Reach(102.5)) == "102"
    with pytest.raises(ValueError, match="one error per logged step"):
        speed.steps_to_threshold(steps, [0.9], 0.5)


def test_ratio_of_means_is_exact_or_a_bound():
    relu = [speed.Reach(100.0), speed.Reach(120.0)]
    assert str(speed.ratio_of_means([speed.Reach(330.0), speed.Reach(330.0)], relu)) == "3.00x"
    never = speed.ratio_of_means([speed.Reach(330.0, ">")] * 2, relu)  # tanh never reached it: last step / ReLU's mean
    assert (never.relation, str(never)) == (">", "more than 3.00x")
    assert speed.ratio_of_means(relu, [speed.Reach(330.0, ">")] * 2) is None  # ReLU never reached it: no ratio
    assert speed.ratio_of_means([speed.Reach(330.0, ">")], [speed.Reach(330.0, ">"), speed.Reach(100.0)]).relation == "?"
    assert str(speed.mean_reach([speed.Reach(100.0), speed.Reach(330.0, ">")])) == "> 215"


# --- confounds -----------------------------------------------------------------------------------------------------

def test_confound_notes_come_from_the_configs():
    small, paper = dict(SMALL_MODEL), {"input_size": 227}
    pool = {"pool_kernel": 2, "pool_stride": 2}
    [note] = confounds.notes(small, {**small, **pool})
    assert note.confound and "pool5 is 3x3 instead of 2x2" in note.text and "fc6 has 576 inputs instead of 256" in note.text
    assert confounds.notes(paper, {**paper, **pool}) == []  # at 227 both poolings give 55-27-13-6
    [tower] = confounds.notes(small, {**small, "towers": 1, "half_kernels": True})
    assert not tower.confound and "paper's one-GPU net was compared" in tower.text and "12-32-48-48-64" in tower.text
    [grouping] = confounds.notes(small, {**small, "towers": 1})
    assert grouping.confound and "grouping alone" in grouping.text
    [lrn] = confounds.notes(small, {**small, "lrn": {"enabled": False}})
    assert lrn.confound and "0.59" in lrn.text
    assert confounds.notes(small, {**small, "lrn": {"constant_gain": True}}) == []


def test_a_confounded_comparison_gets_no_verdict():
    up = Effect(0.05, 0.02, 0.08, 3, 3)
    assert _verdict_cell(up, 1) == "agrees"
    cell = _verdict_cell(up, 1, "note 1")
    assert "agrees" not in cell and cell.startswith("none, confounded (note 1)") and "paper's side of zero" in cell
    assert _verdict_cell(Effect(0.05, 0.02, 0.08, 1, 1), 1, "note 1") == "inconclusive (1 seed)"


# --- the report on fabricated results ------------------------------------------------------------------------------

def _top5(rng: np.random.Generator, labels: np.ndarray, error: float, classes: int) -> np.ndarray:
    """(N, min(5, classes)) predictions whose top-1 is wrong on a share `error` of the images."""
    k = min(5, classes)
    wrong = rng.random(len(labels)) < error
    first = np.where(wrong, (labels + 1) % classes, labels)
    return np.stack([(first + j) % classes for j in range(k)], axis=1)


def _history(steps_per_epoch: int, train_errors: list[float], wall: float) -> dict[str, list[float]]:
    n = len(train_errors)
    return {"epoch": [float(i) for i in range(n)], "step": [float(steps_per_epoch * (i + 1)) for i in range(n)],
            "train/loss": [1.0] * n, "train/err_top1": train_errors, "val/err_top1": train_errors,
            "val/err_top5": train_errors, "lr": [0.01] * n, "train/images_per_s": [100.0] * n,
            "wall_s": [wall * (i + 1) / n for i in range(n)]}


def _fabricate(folder, store, name: str, seeds: int, error: float, model: dict | None = None,
               train_errors: list[float] | None = None, seed_spread: float = 0.02) -> None:
    """An ExperimentResult with `seeds` seeds whose top-1 error is about `error`, written to folder/name."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    val, train = ShardReader(store, "val"), ShardReader(store, "train")
    classes = val.info.classes
    labels = val.labels
    seed_names = [f"seed{i}" for i in range(seeds)]
    top5 = {m: np.stack([_top5(np.random.default_rng(i), labels, error + seed_spread * (i - 1), len(classes))
                         for i in range(seeds)]) for m in ("center", "ten_crop")}
    per_seed = {s: {m: {"err_top1": float((top5[m][i][:, 0] != labels).mean()),
                        "err_top5": float((~(top5[m][i] == labels[:, None]).any(1)).mean())} for m in top5}
                for i, s in enumerate(seed_names)}
    metrics = {"experiment": name, "seeds": seed_names, "num_images": len(labels), "per_seed": per_seed,
               **{m: per_seed[seed_names[0]][m] for m in top5}}
    # what a run records: results.NOT_RECORDED leaves out data.source and the paths
    config = {"data": {"image_size": 128, "batch_size": 8},
        "model": {**SMALL_MODEL, "num_classes": len(classes), **(model or {})}, "optim": {"lr": 0.01}}
    runs = {s: results.SeedRun({"wandb_url": None}, config,
                               _history(8, train_errors or [0.7, 0.5, 0.3], wall=60.0)) for s in seed_names}
    val_f = rng.normal(size=(len(labels), 16)).astype(np.float16)
    result = results.ExperimentResult(
        name, "embedded_tiny", "tiny", seed_names, labels, list(val.names), top5,
        {m: a[0] for m, a in top5.items()}, metrics, runs, list(classes), 2,
        {"hardware": "test machine", "versions": "none", "git_commit": "abc", "data_fingerprint": "f"},
        rng.normal(size=(24, 3, 11, 11)).astype(np.float32),
        {"val": val_f, "val_labels": labels, "val_names": np.array(val.names),
         "train": rng.normal(size=(len(train), 16)).astype(np.float16), "train_labels": train.labels,
         "train_names": np.array(train.names)})
    results.write(folder / name, result)


def _report(tmp_path, store, **kwargs) -> str:
    md = build_report(tmp_path / "results", store, tmp_path / "reports", samples=300, dataset="embedded_tiny",
                      profile="tiny", **kwargs)
    return md.read_text()


def _row(text: str, first_cell: str, after: str = "") -> list[str]:
    """The cells of the first table row named `first_cell` after the heading `after`."""
    line = next(line for line in text[text.index(after):].splitlines() if line.startswith(f"| {first_cell} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_one_seed_reads_inconclusive_everywhere(tiny_data, tmp_path):
    store = tiny_data["store"]
    _fabricate(tmp_path / "results", store, "baseline", 1, 0.2)
    _fabricate(tmp_path / "results", store, "no_overlap_pool", 1, 0.9)  # a huge effect, but one seed
    _fabricate(tmp_path / "results", store, "lrn_gain", 1, 0.9, {"lrn": {"constant_gain": True}})
    text = _report(tmp_path, store)
    assert text.count(VERDICT_RULE) == 1
    assert "synthetic shapes" in text and "**not ImageNet**" in text  # named from the dataset, as runs record it
    for row in ("no_overlap_pool", "lrn_gain"):
        assert _row(text, row)[7] == "inconclusive (1 seed)"
        assert _row(text, row)[5] == "n/a (1 seed)"  # the baseline's seed spread
    assert "seed-to-seed spread cannot be measured" in text
    assert "agrees" not in text and "contradicts" not in text


def test_three_seeds_give_verdicts_but_never_to_a_confounded_comparison(tiny_data, tmp_path):
    store = tiny_data["store"]
    # 24 validation images and 3 seeds: only a large effect clears the t-widened interval
    _fabricate(tmp_path / "results", store, "baseline", 3, 0.05)
    _fabricate(tmp_path / "results", store, "lrn_gain", 3, 0.95, {"lrn": {"constant_gain": True}})
    _fabricate(tmp_path / "results", store, "no_lrn", 3, 0.95, {"lrn": {"enabled": False}})
    _fabricate(tmp_path / "results", store, "no_overlap_pool", 3, 0.95, {"pool_kernel": 2, "pool_stride": 2})
    text = _report(tmp_path, store)
    assert _row(text, "lrn_gain")[7] == "agrees"
    for row in ("no_lrn", "no_overlap_pool"):
        cell = _row(text, row)[7]
        assert cell.startswith("none, confounded") and "agrees" not in cell, cell
    assert "pool5 is 3x3 instead of 2x2" in text
    # the baseline's spread beside every effect: its three seeds' sample std, in points
    base = results.load(tmp_path / "results" / "baseline")
    spread = np.std([base.metrics["per_seed"][s]["ten_crop"]["err_top1"] for s in base.seeds], ddof=1) * 100
    assert _row(text, "lrn_gain")[5] == _row(text, "no_lrn")[5] == f"{spread:.1f}"
    # section 3.3 splits no_lrn's effect: normalisation alone is judged against the paper, the full one is not
    assert "## Section 3.3" in text
    assert _row(text, "`lrn_gain` − baseline")[6] == "agrees"
    assert _row(text, "`no_lrn` − `lrn_gain`")[6] == "no number in the paper"
    assert _row(text, "`no_lrn` − baseline")[6].startswith("none, confounded")
    # Tables 1 and 2: mean ± std over seeds, the ensemble row, and the warning on every row of ours
    assert re.search(r"\| CNN \| \d+\.\d ± \d+\.\d \|", text)
    assert "| 3 CNNs |" in text
    ours = [line for line in text.splitlines() if "| ours," in line]
    assert len(ours) == 4 and all("not comparable: embedded_tiny data" in line for line in ours)
    # the first paragraph: data, seeds, hardware and the total training time (4 experiments x 3 runs x 60 s)
    intro = text.split("\n\n")[1]
    assert "not ImageNet" in intro and "4 classes, 64 training and 24 validation images" in intro
    assert "3 seeds each" in intro and "test machine" in intro and "Training took 12 min in all (12 runs)" in intro
    figures = sorted(p.name for p in (tmp_path / "reports" / "figures").glob("*.png"))
    assert "seed_strip.png" in figures and "figures/seed_strip.png" in text


def test_lrn_section_says_when_the_control_is_missing(tiny_data, tmp_path):
    store = tiny_data["store"]
    _fabricate(tmp_path / "results", store, "baseline", 3, 0.2)
    _fabricate(tmp_path / "results", store, "no_lrn", 3, 0.5, {"lrn": {"enabled": False}})
    text = _report(tmp_path, store)
    assert "## Section 3.3" in text and "`lrn_gain` run was not evaluated" in text
    assert "| `lrn_gain` − baseline |" not in text


def test_figure1_ratio_figure3_and_figure4_numbers(tiny_data, tmp_path):
    store = tiny_data["store"]
    _fabricate(tmp_path / "results", store, "baseline", 3, 0.2, train_errors=[0.9, 0.6, 0.4])
    _fabricate(tmp_path / "results", store, "tanh", 3, 0.5, {"activation": "tanh"}, train_errors=[0.9, 0.8, 0.7])
    text = _report(tmp_path, store, relu_tanh_threshold=0.5)
    # ReLU reaches 50% at step 16 + (0.6 - 0.5) / 0.2 * 8 = 20; tanh never, by its last step 24: more than 1.2x
    assert _row(text, "ReLU (baseline)")[1:] == ["seed0: 20, seed1: 20, seed2: 20", "20"]
    assert _row(text, "tanh", "## Section 3.1")[1:] == ["seed0: > 24, seed1: > 24, seed2: > 24", "> 24"]
    assert "tanh needed **more than 1.20x** as many steps as ReLU" in text
    assert "first reaches 50%" in text
    # Figure 3: random kernels sit at the white-noise share, as freshly initialised ones do
    assert _row(text, "white noise (expected)")[1] == "10.0%"
    trained = float(re.search(r"\| trained \(baseline, seed0\) \| (\d+\.\d)%", text).group(1))
    assert abs(trained - 10) < 3
    # Figure 4: random features give a chance-level neighbour rate, and chance is 1/4 here
    rate = float(re.search(r"\*\*(\d+\.\d)%\*\* of the 5 nearest", text).group(1))
    assert "chance, for training images drawn at random, is 25.0%" in text and abs(rate - 25) < 15


def test_thumbnails_are_the_centre_patch_at_the_trained_scale(tiny_data):
    reader = ShardReader(tiny_data["store"], "val")
    assert _thumb(reader, 0, 128, 115).shape == (115, 115, 3)
    np.testing.assert_array_equal(_thumb(reader, 0, 256, 227), reader.image(0)[14:241, 14:241])
