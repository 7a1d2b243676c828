"""Every experiment composes; bad configs stop at start with the key named."""

import subprocess
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from alexnet_repro.config import ConfigError, validate
from conftest import CONF, PYTHON, ROOT, compose_train

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
PAPER_ABLATIONS = {"baseline", "tanh", "no_lrn", "no_overlap_pool", "no_dropout", "no_pca_lighting", "one_tower"}


def test_every_paper_ablation_has_an_experiment():
    assert PAPER_ABLATIONS <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_validates(name):
    cfg = validate(compose_train([f"+experiment={name}"]))
    assert cfg.experiment_name == name


def test_experiments_change_what_they_say():
    base = validate(compose_train(["+experiment=baseline"]))
    assert validate(compose_train(["+experiment=tanh"])).model.activation == "tanh"
    assert validate(compose_train(["+experiment=no_lrn"])).model.lrn.enabled is False
    assert validate(compose_train(["+experiment=no_overlap_pool"])).model.pool_kernel == 2
    assert validate(compose_train(["+experiment=no_dropout"])).model.dropout == 0.0
    assert validate(compose_train(["+experiment=no_pca_lighting"])).augment.lighting_std == 0.0
    one = validate(compose_train(["+experiment=one_tower"])).model
    assert (one.towers, one.half_kernels) == (1, True)
    assert (base.model.activation, base.model.lrn.enabled, base.model.pool_kernel, base.model.dropout,
            base.augment.lighting_std, base.model.towers) == ("relu", True, 3, 0.5, 0.1, 2)


def test_ddp2_and_slurm_configs_compose():
    cfg = compose_train(["+experiment=baseline", "trainer=ddp2", "trainer.accelerator=cpu", "trainer.num_nodes=2"])
    t = validate(cfg).trainer
    assert (t.strategy, t.devices, t.accelerator, t.num_nodes) == ("ddp", 2, "cpu", 2)
    slurm = OmegaConf.load(CONF / "hydra" / "launcher" / "slurm.yaml")
    assert slurm.gpus_per_node == 2 and slurm.tasks_per_node == 2


@pytest.mark.parametrize("override, key", [
    ("model.dropout=1.5", "model.dropout"),
    ("optim.lr=-0.1", "optim.lr"),
    ("model.towers=3", "model.towers"),
    ("model.activation=sigmoid", "model.activation"),
    ("data.batch_size=0", "data.batch_size"),
])
def test_impossible_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose_train([override]))


def test_typo_in_a_key_is_named():
    cfg = compose_train([])
    OmegaConf.set_struct(cfg, False)
    cfg.model.dropuot = 0.5  # e.g. a typo inside an experiment file
    with pytest.raises(ConfigError, match="model.dropuot"):
        validate(cfg)


def run_train(*args, timeout=120):
    return subprocess.run([PYTHON, "src/train.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_cli_rejects_unknown_experiment_key_and_value():
    unknown = run_train("+experiment=no_such_thing")
    assert unknown.returncode != 0 and "no_such_thing" in unknown.stderr
    typo = run_train("model.dropuot=0.5")
    assert typo.returncode != 0 and "dropuot" in typo.stderr
    impossible = run_train("model.dropout=1.5", "hydra.run.dir=/tmp/alexnet-repro-never")
    assert impossible.returncode != 0 and "model.dropout=1.5" in impossible.stderr
    assert "Traceback" not in impossible.stderr
    assert not Path("/tmp/alexnet-repro-never/train_summary.json").exists()
