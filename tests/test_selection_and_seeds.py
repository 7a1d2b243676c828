"""What a referee checks first: nothing is chosen on the validation images (minival), seeds are independent,
and a run that diverged or collapsed is flagged by a rule fixed in advance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alexnet_repro import health
from alexnet_repro.data import minival
from alexnet_repro.data.samplers import EpochBatchSampler
from alexnet_repro.data.store import ShardReader
from alexnet_repro.seeds import stream_seed


def epoch_orders(seed: int, epochs: int = 6, n: int = 50) -> list[tuple[int, ...]]:
    sampler = EpochBatchSampler(n, n, shuffle=True, seed=seed)
    orders = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        orders.append(tuple(next(iter(sampler))))
    return orders


def test_no_two_seeds_share_any_epochs_order():
    seen = {}
    for seed in range(5):
        for epoch, order in enumerate(epoch_orders(seed)):
            assert order not in seen, f"seed {seed} epoch {epoch} repeats {seen.get(order)}"
            seen[order] = (seed, epoch)


def test_streams_differ_by_purpose_and_position_and_repeat_exactly():
    keys = [(s, p, e) for s in range(3) for p in ("init", "order", "step") for e in range(4)]
    values = [stream_seed(s, p, e) for s, p, e in keys]
    assert len(set(values)) == len(values)
    assert stream_seed(1, "order", 3) == stream_seed(1, "order", 3)  # a resumed run draws the same
    assert all(0 <= stream_seed(s, "init", bits=32) < 2**32 for s in range(10))


def test_minival_is_deterministic_per_class_and_disjoint_from_training_and_validation(tiny_data):
    reader = ShardReader(str(tiny_data["store"]), "train")
    train, held = minival.split(reader.names, reader.labels, per_class=2)
    names, labels = list(reversed(reader.names)), list(reversed(reader.labels))
    _, again = minival.split(names, labels, per_class=2)  # the same images, listed in another order
    assert sorted(reader.names[i] for i in held) == sorted(names[i] for i in again)
    assert set(train).isdisjoint(held) and len(train) + len(held) == len(reader.names)
    assert np.bincount(reader.labels[held]).tolist() == [2, 2, 2, 2]  # 2 of every class
    val_names = set(ShardReader(str(tiny_data["store"]), "val").names)
    assert val_names.isdisjoint(reader.names[i] for i in held)  # never the images evaluate scores


def test_minival_keeps_a_training_image_in_every_class():
    train, held = minival.split(["a", "b", "c"], [0, 0, 1], per_class=10)
    assert sorted(np.asarray([0, 0, 1])[train].tolist()) == [0, 1] and len(held) == 1


@pytest.mark.parametrize("loss, error, lr, expected", [
    ([2.0, 1.5, 1.0, 0.8], [0.8, 0.6, 0.4, 0.3], [0.01] * 4, "ok"),
    ([2.0, math.nan, math.nan, math.nan], [0.8, 0.9, 0.9, 0.9], [0.01] * 4, "diverged"),
    ([2.3, 2.3, 2.3, 2.3], [0.9, 0.9, 0.89, 0.88], [0.01] * 4, "collapsed"),  # within 5 points of chance 0.9
    ([2.0, 1.5, 1.2, 1.1], [0.8, 0.6, 0.5, 0.45], [0.01, 1e-5, 1e-5, 1e-5], "collapsed"),  # lr floor by epoch 2 of 6
])
def test_run_health_flags_diverged_and_collapsed_runs(loss, error, lr, expected):
    verdict = health.classify(loss, error, lr, classes=10, lr_floor=1.1e-5, planned_epochs=6)
    assert verdict["status"] == expected
    assert (verdict["reason"] == "") == (expected == "ok")


def test_a_finished_run_records_minival_selection_the_last_model_and_its_health(tiny_data, tmp_path):
    from alexnet_repro.export import load_model
    from alexnet_repro.training.run import train
    from conftest import compose_train, data_overrides

    summary = train(compose_train(["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=2",
                                   "logger=none"]), tmp_path)
    assert summary["selection"] == "minival" and "minival/err_top1" in summary["metrics"]
    assert summary["health"]["status"] in ("ok", "collapsed") and summary["health_rule"] == health.RULE
    best, last = load_model(tmp_path / summary["model"]), load_model(tmp_path / summary["model_last"])
    assert best.net.spec == last.net.spec
    history = (tmp_path / "history.csv").read_text().splitlines()
    header, first = history[0].split(","), history[1].split(",")
    window = float(first[header.index("lrn/norm1_window_mean")])
    assert window > 0  # S at norm1: the LRN divisor (k + alpha/n S)^beta is measured, not assumed


def generated_store(root, classes: int, seed: int) -> tuple:
    """A store and its statistics from a generated set of `classes` classes, through the pipeline's own code."""
    from alexnet_repro.data.generate import GeneratedSpec, generate
    from alexnet_repro.data.ilsvrc import index_ilsvrc
    from alexnet_repro.data.pca import pixel_statistics, write_statistics
    from alexnet_repro.data.resize import build_store
    from conftest import resize_settings

    spec = GeneratedSpec(classes=classes, train_per_class=12, val_per_class=4, seed=seed)
    archives = generate(root / "archives", spec, workers=1, progress=False)
    index_ilsvrc(archives["train"], archives["val"], archives["devkit"], root / "raw", progress=False)
    build_store(root / "raw", root / "store", resize_settings(shard_size=20, workers=1), progress=False)
    stats, mean = pixel_statistics(root / "store", workers=1, progress=False)
    write_statistics(stats, mean, root / "stats.json")
    return root / "store", root / "stats.json"


def test_fine_tuning_starts_from_a_net_pretrained_on_a_larger_set_and_replaces_fc8(tiny_data, tmp_path):
    """Section 6's pretrain-then-fine-tune path, end to end on generated data: a net trained on a generated set of
    7 classes starts a training on the 4-class one; init_from takes every layer but the classifier."""
    from alexnet_repro.export import load_model
    from alexnet_repro.training.run import train
    from conftest import compose_train, data_overrides

    store, stats = generated_store(tmp_path / "larger", classes=7, seed=11)
    base = ["+experiment=baseline", *data_overrides(tiny_data), "logger=none", "trainer.max_epochs=1"]
    pre = train(compose_train([*base, f"data.store_dir={store}", f"data.stats_path={stats}"]), tmp_path / "pre")
    pretrained = load_model(tmp_path / "pre" / pre["model"])
    assert pretrained.net.fc8.out_features == 7 and len(pretrained.classes) == 7
    tuned = train(compose_train([*base, "trainer.limit_train_batches=1", f"init_from={tmp_path / 'pre' / pre['model']}"]),
                  tmp_path / "tuned")
    assert tuned["global_step"] == 1  # limit_train_batches=1 is one batch (an int), not the whole epoch
    ckpt = torch.load(tmp_path / "tuned" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    moved = (ckpt["net.features.conv1.weight"] - pretrained.net.features.conv1.weight).abs().max()
    assert moved < 0.05  # one SGD step away from the pretrained conv1, not a fresh initialisation
    assert ckpt["net.fc8.weight"].shape[0] == 4  # a classifier for this store's 4 classes


@pytest.mark.parametrize("switch, missing, extra", [
    ({"remove_convs": ["conv3"]}, "conv3", None), ({"remove_convs": ["conv4"]}, "conv4", None),
    ({"remove_convs": ["conv5"]}, "conv5", None), ({"conv6": True}, None, "conv6")])
def test_section_7_depth_and_section_6_sixth_layer_variants(switch, missing, extra):
    from alexnet_repro.models.alexnet import alexnet

    net = alexnet(10, input_size=115, width=0.25, **switch)
    names = dict(net.features.named_children())
    assert (missing is None or missing not in names) and (extra is None or extra in names)
    assert net(torch.zeros(2, 3, 115, 115)).shape == (2, 10)
