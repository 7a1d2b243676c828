"""The ImageNet path at its real shape, simulated: 1000 generated classes (2 training images and 1 validation
image each, at ImageNet's sizes) through source -> resize -> pca (bench/scale.py measures the same)."""

import importlib.util
import json

import pytest

from alexnet_repro.data.generate import GeneratedSpec
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_a_1000_class_ilsvrc_shaped_set_goes_through_with_few_files_and_bounded_disk(tmp_path):
    spec_file = importlib.util.spec_from_file_location("scale", ROOT / "bench" / "scale.py")
    scale = importlib.util.module_from_spec(spec_file)
    spec_file.loader.exec_module(scale)
    rows = scale.measure(tmp_path, GeneratedSpec(classes=1000, train_per_class=2, val_per_class=1), workers=2)
    by_stage = {r["stage"].split(":")[0]: r for r in rows}
    index = json.loads((tmp_path / "store" / "index.json").read_text())
    assert len(index["classes"]) == 1000
    assert (index["splits"]["train"]["count"], index["splits"]["val"]["count"]) == (2000, 1000)
    assert not (tmp_path / "raw" / "train").exists()  # the archives were indexed, not unpacked
    assert by_stage["source"]["files_created"] == 2  # classes.json and archives.json
    assert by_stage["resize"]["files_created"] <= 2 * (1000 + 1) + 1  # a shard per class, not a file per image
    sizes = by_stage["sizes (MB)"]
    # The goal for ImageNet: peak disk at most archives + store + 10% (here the stats and index are included).
    assert by_stage["resize"]["peak_disk_mb"] <= 1.1 * (sizes["archives"] + sizes["store"]) + sizes["raw"] + 1
