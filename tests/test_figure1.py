"""Figure 1 with the paper's four-layer net (figure1/, report/figure1_net.py): the rate is picked on pilot seeds by
steps to the level, the reported seeds never feed the pick, a bound stays a bound, and the stage runs, resumes net
by net and adopts a finished result before importing torch."""

from __future__ import annotations

import json
import subprocess

import pytest

from alexnet_repro.basics import ConfigError
from alexnet_repro.figure1 import result as F
from alexnet_repro.figure1.pick import pick
from alexnet_repro.report.figure1_net import figure1_net, geometric_ratio
from alexnet_repro.speed import Reach
from conftest import CONF, PYTHON, ROOT, child_env


def curve(seed, scale, errors, every=10):
    return F.Curve(seed, scale, tuple(every * (i + 1) for i in range(len(errors))), tuple(errors), 1.0, 1.0)


def test_the_pick_is_the_fastest_rate_on_pilots_and_says_when_it_is_at_the_edge():
    pilots = [curve(100, 0.5, [0.9, 0.6, 0.2]), curve(100, 1.0, [0.8, 0.2]), curve(100, 2.0, [0.9, 0.9, 0.9])]
    chosen = pick(pilots, 0.25)
    assert chosen.lr_scale == 1.0 and not chosen.at_edge
    assert chosen.pilot_mean_steps["2"][1] == ">"  # never reached: ranks after every rate that did
    edge = pick([curve(100, 0.5, [0.2]), curve(100, 1.0, [0.8, 0.2]), curve(100, 2.0, [0.9, 0.2])], 0.25)
    assert edge.lr_scale == 0.5 and edge.at_edge


def test_config_refuses_reported_seeds_among_the_pilots_and_an_unbracketable_grid():
    from hydra import compose, initialize_config_dir

    from alexnet_repro.figure1.config import Figure1Config
    from alexnet_repro.schema import validate

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        base = compose(config_name="figure1")
        validate(base, Figure1Config)
        with pytest.raises(ConfigError, match="also pilot seeds"):
            validate(compose(config_name="figure1", overrides=["seeds=[0,100]"]), Figure1Config)
        with pytest.raises(ConfigError, match="three or more"):
            validate(compose(config_name="figure1", overrides=["lr_scales.relu=[1.0,2.0]"]), Figure1Config)


def _result(activation, runs, level=0.25):
    return F.Figure1Result(activation, "layers-80sec", "cifar10_embedded", level, 128, 5000, (),
                           F.Pick(1.0, False, {}), tuple(runs), {})


def test_the_ratio_has_an_interval_and_a_net_that_never_reaches_the_level_makes_it_a_bound():
    relu = [curve(s, 1.0, [0.5, 0.2], every=10 + s) for s in range(3)]
    tanh = [curve(s, 1.0, [0.9, 0.7, 0.5, 0.2], every=10 + s) for s in range(3)]
    net = figure1_net({"relu": _result("relu", relu), "tanh": _result("tanh", tanh)})
    ratio, low, high = net.geometric
    assert ratio == pytest.approx(2.0, rel=0.05) and low < ratio < high
    never = [curve(s, 1.0, [0.9, 0.8]) for s in range(3)]
    bound = figure1_net({"relu": _result("relu", never), "tanh": _result("tanh", tanh)})
    assert bound.geometric is None and bound.ratio.relation == "<="  # shown as "at most", not dropped
    assert geometric_ratio([Reach(10.0, ">")] * 2, [Reach(5.0)] * 2) is None


def _stage(root, out, *extra, importtime=False):
    args = [PYTHON, *(["-X", "importtime"] if importtime else []), "src/figure1.py", "activation=tanh",
            f"data.store_dir={root / 'store'}", f"data.stats_path={root / 'stats' / 'pca_stats.json'}",
            "batch_size=16", "log_every=2", "max_epochs=2", "level=0.7", "pilot_seeds=[9]", "seeds=[0,1]",
            f"run_dir={out / 'runs'}", f"out={out / 'figure1-tanh.json'}", "device=cpu", *extra]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, env=child_env())


def test_the_stage_trains_pilots_then_reported_seeds_and_adopts_its_result(tiny_cifar, tmp_path):
    done = _stage(tiny_cifar, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = F.load(tmp_path / "figure1-tanh.json")
    assert [c.seed for c in result.pilots] == [9, 9, 9] and [c.lr_scale for c in result.pilots] == [8.0, 16.0, 32.0]
    assert [c.seed for c in result.runs] == [0, 1] and {c.lr_scale for c in result.runs} == {result.pick.lr_scale}
    assert result.train_images == 120 and all(c.steps[0] == 2 for c in result.runs)
    assert all(len(c.steps) >= 2 for c in result.runs)  # a curve, not one point
    # the same command again: adopted before torch is imported
    again = _stage(tiny_cifar, tmp_path, importtime=True)
    assert again.returncode == 0 and "up to date" in again.stdout + again.stderr, again.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in again.stderr.splitlines() if line.startswith("import time")}
    assert "alexnet_repro.figure1.result" in imported and not imported & {"torch", "lightning"}
    # a net whose curve is kept is not trained again; one that is gone is, with the same numbers (seeded)
    seed1 = tmp_path / "runs" / f"run-seed1-lr{result.pick.lr_scale:g}.json"
    stamp = seed1.stat().st_mtime_ns
    lost = tmp_path / "runs" / f"run-seed0-lr{result.pick.lr_scale:g}.json"
    before = json.loads(lost.read_text())["curve"]
    (tmp_path / "figure1-tanh.json").unlink()
    lost.unlink()
    redone = _stage(tiny_cifar, tmp_path)
    assert redone.returncode == 0, redone.stderr[-3000:]
    assert json.loads(lost.read_text())["curve"]["errors"] == before["errors"]
    assert seed1.stat().st_mtime_ns == stamp
    assert [(c.steps, c.errors) for c in F.load(tmp_path / "figure1-tanh.json").runs] == [
        (c.steps, c.errors) for c in result.runs]
