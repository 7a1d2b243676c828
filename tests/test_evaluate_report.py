"""Evaluation (centre, ten patches, ensembles), the report and the notebook."""

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from test_untrusted_files import hostile_model, one_line_naming
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from alexnet_repro import results
from alexnet_repro.data.dataset import StoreDataset
from alexnet_repro.evaluation.predict import error_rates, predict, softmax_over_patches, top5
from alexnet_repro.evaluation.run import evaluate
from alexnet_repro.export import ExportError, load_model
from alexnet_repro.report.build import build_report
from alexnet_repro.report.stats import ESTIMATOR_RULE
from alexnet_repro.training.run import train
from conftest import ROOT, compose_evaluate, compose_train, data_overrides

EXPERIMENTS = ("baseline", "tanh", "no_lrn")


@pytest.fixture(scope="session")
def tiny_results(tiny_data, tmp_path_factory):
    """A small pipeline output: three experiments trained 2 epochs (baseline with 2 seeds), evaluated."""
    root = tmp_path_factory.mktemp("pipeline")
    for name in EXPERIMENTS:
        for seed in ((0, 1) if name == "baseline" else (0,)):
            cfg = compose_train([f"+experiment={name}", *data_overrides(tiny_data), "trainer.max_epochs=2",
                                 "logger=none", f"seed={seed}"])
            train(cfg, root / "runs" / name / f"seed{seed}")
        seeds = (0, 1) if name == "baseline" else (0,)
        evaluate(compose_evaluate(name, root / "runs" / name, root / "results" / name, tiny_data["store"], seeds,
                                  features_train_max=40, features_for="[baseline]"), progress=False)
    return root


def test_ten_crop_equals_softmax_averaged_over_torchvision_tencrop(tiny_results, tiny_data):
    model = load_model(tiny_results / "runs" / "baseline" / "seed0" / "model.pt")
    side, size = model.preset.image_size, model.preset.crop_size  # the profile's decode side and crop
    images = torch.stack([StoreDataset(str(tiny_data["store"]), "val", side)[i][0] for i in range(3)])
    with torch.inference_mode():
        both = softmax_over_patches(model, images)
        ours = both["ten_crop"]
        x = model.preset.to_float(images)
        # the centre patch, taken from the ten, is exactly the centre crop
        top = (side - size) // 2
        centre = model.net(x[..., top : top + size, top : top + size].contiguous()).softmax(-1)
        torch.testing.assert_close(both["center"], centre)
        torch.testing.assert_close(softmax_over_patches(model, images, ["center"])["center"], centre)
        for i in range(3):
            crops = torch.stack(v2.TenCrop(size)(x[i]))
            torch.testing.assert_close(ours[i], model.net(crops).softmax(-1).mean(0))


def test_ensemble_averages_softmax(tiny_results, tiny_data):
    paths = [tiny_results / "runs" / "baseline" / f"seed{s}" / "model.pt" for s in (0, 1)]
    modules = [load_model(p) for p in paths]
    loader = DataLoader(StoreDataset(str(tiny_data["store"]), "val", modules[0].preset.image_size), batch_size=8)
    cpu = torch.device("cpu")
    (both, labels), (one, _), (two, _) = [predict(m, loader, ["center"], cpu, progress=False)
                                          for m in (modules, modules[:1], modules[1:])]
    both, one, two = both["center"], one["center"], two["center"]
    np.testing.assert_allclose(both, (one + two) / 2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(one, two)
    metrics = json.loads((tiny_results / "results" / "baseline" / "metrics.json").read_text())
    assert metrics["seeds"] == ["seed0", "seed1"]
    assert metrics["center"] == pytest.approx(error_rates(top5(both), labels))


def test_error_rates():
    probs = np.array([[0.5, 0.2, 0.1, 0.1, 0.05, 0.05, 0.0], [0.0, 0.1, 0.2, 0.3, 0.15, 0.05, 0.2]])
    assert error_rates(top5(probs), np.array([0, 0])) == {"err_top1": 0.5, "err_top5": 0.5}
    assert error_rates(top5(probs), np.array([1, 6])) == {"err_top1": 1.0, "err_top5": 0.0}


def test_results_round_trip_as_typed_arrays(tiny_results):
    for name in EXPERIMENTS:
        out = tiny_results / "results" / name
        result = results.load(out)
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics == result.metrics and metrics["num_images"] == 24
        assert result.top5["ten_crop"].dtype.kind == "i" and result.top5["ten_crop"].shape[1:] == (24, 4)  # 4 classes
        e1, _ = result.errors("center")
        assert e1.mean(axis=1).tolist() == pytest.approx(
            [metrics["per_seed"][s]["center"]["err_top1"] for s in result.seeds])
        assert (result.dataset, result.profile) == ("embedded_tiny", "tiny")
        assert result.provenance["data_fingerprint"] and result.conv1.shape[1:] == (3, 11, 11)
        assert result.runs[result.seeds[0]].history["epoch"] == [0.0, 1.0]
        # every seed's curve for `dvc plots`, and its end of training for `dvc metrics` (one seed's only, before)
        for seed in result.seeds:
            assert results.read_history(out / "history" / f"{seed}.csv") == result.runs[seed].history
            assert metrics["training"][seed]["epochs"] == len(result.runs[seed].history["epoch"])
            assert metrics["training"][seed]["train/err_top1"] == result.runs[seed].summary["metrics"]["train/err_top1"]
        # the last checkpoint beside the chosen one, on the centre patch only (last_modes): a tenth of ten-crop's cost
        assert {seed: set(modes) for seed, modes in metrics["per_seed_last"].items()} == {
            s: {"center"} for s in result.seeds}
    assert results.load(tiny_results / "results" / "baseline").seeds == ["seed0", "seed1"]


def test_old_or_missing_results_are_a_clear_error(tiny_results, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "metrics.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="older layout"):
        results.load(old)
    newer = tmp_path / "newer"
    shutil.copytree(tiny_results / "results" / "tanh", newer)
    meta = json.loads((newer / "result.json").read_text())
    (newer / "result.json").write_text(json.dumps({**meta, "schema_version": 99}))
    with pytest.raises(results.ResultError, match="schema version 99"):
        results.load(newer)


def test_missing_or_foreign_model_is_a_clear_error(tmp_path, tiny_data, tiny_results):
    with pytest.raises(FileNotFoundError, match="train this experiment first"):
        evaluate(compose_evaluate("x", tmp_path / "runs", tmp_path / "out", tiny_data["store"]))
    bogus = tmp_path / "bogus.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, bogus)
    with pytest.raises(ExportError, match="bogus.pt"):
        load_model(bogus)
    # a model trained on other classes than the store's is refused, not scored
    runs = tmp_path / "runs" / "seed0"
    shutil.copytree(tiny_results / "runs" / "baseline" / "seed0", runs)
    payload = torch.load(runs / "model.pt", weights_only=True)
    torch.save({**payload, "classes": payload["classes"][:3]}, runs / "model.pt")
    with pytest.raises(ExportError, match="3 classes"):
        evaluate(compose_evaluate("x", tmp_path / "runs", tmp_path / "out", tiny_data["store"]))
    # ...and so is one trained on another store with the same classes
    torch.save({**payload, "data_fingerprint": "0123456789abcdef"}, runs / "model.pt")
    with pytest.raises(ExportError, match="trained on store 0123456789abcdef"):
        evaluate(compose_evaluate("x", tmp_path / "runs", tmp_path / "out", tiny_data["store"]))


def _report_cfg(results_dir, store, out_dir, **kwargs) -> SimpleNamespace:
    """A report config with config.ReportConfig's attributes."""
    return SimpleNamespace(**{**dict(results_dir=str(results_dir), out_dir=str(out_dir), baseline="baseline",
                                     mode="ten_crop", neighbours=5, figure4_queries=4,
                                     profile_name="tiny", data=SimpleNamespace(name="embedded_tiny",
                                                                               store_dir=str(store))), **kwargs})


def _with_lrn_gain(tiny_results, folder):
    """The tiny results plus an `lrn_gain` experiment: the baseline's two seeds under the control's name and config."""
    shutil.copytree(tiny_results / "results", folder)
    control = results.load(folder / "baseline")
    control.experiment = "lrn_gain"
    for run in control.runs.values():
        run.config["model"]["lrn"]["constant_gain"] = True
    results.write(folder / "lrn_gain", control)
    return folder


def test_report_holds_every_section_and_the_papers_numbers(tiny_results, tiny_data, tmp_path):
    folder = _with_lrn_gain(tiny_results, tmp_path / "results")
    md = build_report(_report_cfg(folder, tiny_data["store"], tmp_path / "reports"))
    text = md.read_text()
    for section in ("Table 1", "Table 2", "Seed-to-seed variation", "Ablations", "Figure 1", "Section 3.3",
                    "Figure 3", "Figure 4", "Training curves", "Run facts", "not comparable to ImageNet",
                    "not comparable: embedded_tiny data"):
        assert section in text, section
    for number in ("37.5", "17.0", "40.7", "18.2", "38.1", "16.4", "+1.4% top-1, +1.2% top-5", "42.9", "20.9"):
        assert number in text, number
    assert "2 CNNs" in text  # the baseline's two seeds as an ensemble row
    assert text.count(ESTIMATOR_RULE) == 1
    rows: dict[str, str] = {}
    for line in text[text.index("## Ablations"):].splitlines():
        if line.startswith("| "):
            rows.setdefault(line.split("|")[1].strip(), line)  # the first table from the ablations on
    # Two seeds a side give a (wide) paired-t interval; the control lrn_gain has no number in the paper. One seed
    # of no_lrn against two of the baseline: no interval at all.
    assert "| +0.0 [" in rows["lrn_gain"] and "no number in the paper" in rows["lrn_gain"]
    assert "| inconclusive (1 seed) |" in rows["no_lrn"]
    assert "| inconclusive (1 seed) |" in rows["tanh"]  # one seed: no interval comes before any paper claim
    assert "`lrn_gain` − baseline" in rows and "`no_lrn` − `lrn_gain`" in rows and "`no_lrn` − baseline" in rows
    figures = sorted(p.name for p in (tmp_path / "reports" / "figures").glob("*.png"))
    assert figures == ["ablation_deltas.png", "conv1_kernels.png", "nearest_neighbours.png", "seed_strip.png",
                       "training_curves.png"]
    for name in figures:
        assert f"figures/{name}" in text
    html = (tmp_path / "reports" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(figures) and "<table>" in html and "<ol>" in html


def test_report_runs_from_results_alone_and_skips_other_profiles(tiny_results, tiny_data, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_results / "results", copy / "results")  # no runs/ beside it
    stale = json.loads((copy / "results" / "no_lrn" / "result.json").read_text())
    (copy / "results" / "no_lrn" / "result.json").write_text(json.dumps({**stale, "profile": "embedded"}))
    md = build_report(_report_cfg(copy / "results", tiny_data["store"], copy / "reports"))
    text = md.read_text()
    assert "| tanh |" in text and "| no_lrn |" not in text
    assert "Skipped results" in text and "no_lrn: dataset embedded_tiny, profile embedded" in text


def test_report_without_a_baseline_is_a_clear_error(tiny_results, tiny_data, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(tiny_results / "results" / "tanh", results / "tanh")
    with pytest.raises(FileNotFoundError, match="baseline"):
        build_report(_report_cfg(results, tiny_data["store"], tmp_path / "reports"))
    assert not (tmp_path / "reports" / "README.md").exists()


def test_notebook_runs_against_a_small_pipeline_output(tiny_results, tiny_data):
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    store = tiny_results / "data" / "resized" / "embedded_tiny"  # where the project's config puts that store
    store.parent.mkdir(parents=True, exist_ok=True)
    if not store.exists():
        store.symlink_to(tiny_data["store"])
    py = ROOT / "notebooks" / "explore_results.py"
    paired = nbformat.read(ROOT / "notebooks" / "explore_results.ipynb", as_version=4)
    notebook = jupytext.read(py)
    assert [c.source for c in paired.cells] == [c.source for c in notebook.cells]  # the pair is in sync
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tiny_results)}}).execute()
    outputs = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "3 experiments: baseline, no_lrn, tanh" in outputs


def test_notebook_on_a_fresh_clone_says_to_run_the_pipeline_first(tmp_path):
    """A fresh clone has each result.json but not its arrays (result.npz is not committed): the notebook stopped
    at `KeyError: 'baseline'`."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    (tmp_path / "results" / "baseline").mkdir(parents=True)
    shutil.copy(ROOT / "results" / "baseline" / "result.json", tmp_path / "results" / "baseline")
    notebook = jupytext.read(ROOT / "notebooks" / "explore_results.py")
    with pytest.raises(CellExecutionError) as err:
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert "holds no baseline result with its arrays: run `make run` first" in str(err.value)


def test_evaluate_runs_nothing_from_a_hostile_model_in_a_run_folder(tiny_data, tiny_results, tmp_path):
    marker = tmp_path / "ran"
    runs = tmp_path / "runs" / "seed0"
    shutil.copytree(tiny_results / "runs" / "baseline" / "seed0", runs)
    hostile_model(runs / "model.pt", marker)
    with pytest.raises(ExportError) as err:
        evaluate(compose_evaluate("x", tmp_path / "runs", tmp_path / "out", tiny_data["store"]))
    assert one_line_naming(err, runs / "model.pt")
    assert not marker.exists()


def test_figure4_searches_only_the_images_the_nets_trained_on(tiny_results, tiny_data):
    """The fc7 neighbours were searched over the whole training split, minival included: images the nets never
    trained on, counted as 'training images'."""
    from alexnet_repro.data import minival
    from alexnet_repro.data.store import ShardReader

    result = results.load(tiny_results / "results" / "baseline")
    reader = ShardReader(str(tiny_data["store"]), "train")
    per_class = result.runs[result.seeds[0]].config["data"]["minival_per_class"]
    held = {reader.names[i] for i in minival.split(reader.names, reader.labels, per_class)[1]}
    searched = set(result.features["train_names"].tolist())
    assert held and searched and not held & searched
