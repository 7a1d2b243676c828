"""Every experiment composes; bad configs stop at start with the key named."""

import shutil
import subprocess

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from alexnet_repro.basics import ConfigError
from alexnet_repro.data.config import PrepareConfig
from alexnet_repro.evaluation.config import EvaluateConfig
from alexnet_repro.report.config import ReportConfig
from alexnet_repro.schema import validate as validate_as
from alexnet_repro.training.config import TrainConfig
from conftest import CONF, PYTHON, ROOT, compose_train

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
ROOT_SCHEMAS = {"prepare": PrepareConfig, "train": TrainConfig, "evaluate": EvaluateConfig, "report": ReportConfig}


def validate(cfg, schema=TrainConfig):
    return validate_as(cfg, schema)


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
    ("data.image_size=100", "data.image_size"),
    ("model.input_size=116", "model.input_size"),
    ("data.image_size=64", "model.input_size"),  # the embedded profile's 115 crops do not fit in 64
    ("data.decoder=nvjpeg", "data.decoder"),
    ("data.workers=many", "data.workers"),
    ("data.workers=-1", "data.workers"),
])
def test_impossible_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose_train([override]))


def test_loader_settings_that_are_possible():
    data = validate(compose_train(["data.workers=auto", "data.decoder=dali"])).data
    assert (data.workers, data.decoder) == ("auto", "dali")


def test_typo_in_a_key_is_named():
    plain = OmegaConf.to_container(compose_train([]), resolve=True)
    plain["model"]["dropuot"] = 0.5  # e.g. a typo inside an experiment file
    with pytest.raises(ConfigError, match="model.dropuot"):
        validate(plain)


def test_a_typo_inside_a_group_file_fails_while_composing(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "experiment" / "typo.yaml").write_text("# @package _global_\nexperiment_name: typo\nmodel:\n  dropuot: 0.5\n")
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        with pytest.raises(Exception, match="dropuot"):
            compose(config_name="train", overrides=["+experiment=typo"])


def test_every_entry_point_composes_with_every_group_choice():
    groups = {g: sorted(p.stem for p in (CONF / g).glob("*.yaml")) for g in ("data", "trainer", "logger", "profile")}
    for name in EXPERIMENTS:
        validate(compose_train([f"+experiment={name}"]))
    for group, choices in groups.items():
        for choice in choices:
            overrides = [f"{group}={choice}"]
            if choice == "imagefolder":
                overrides.append("data.source.location=/some/tree")
            validate(compose_train(overrides))
            if group == "data":
                for entry, schema in ROOT_SCHEMAS.items():
                    if entry != "train":
                        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                            validate(compose(config_name=entry, overrides=overrides), schema)


def test_data_paths_resolve_from_the_project_root():
    cfg = validate(compose_train(["data=embedded_tiny"]))
    assert cfg.data.store_dir == str(ROOT / "data" / "resized" / "embedded_tiny")
    assert cfg.data.source.generated["classes"] == 4


def run_train(*args, timeout=120):
    return subprocess.run([PYTHON, "src/train.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_cli_rejects_unknown_experiment_key_and_value_with_exit_code_2(tmp_path):
    unknown = run_train("+experiment=no_such_thing")
    assert unknown.returncode == 2 and "no_such_thing" in unknown.stderr
    typo = run_train("model.dropuot=0.5")
    assert typo.returncode == 2 and "model.dropuot" in typo.stderr
    for failed in (unknown, typo):
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr  # Hydra's long message, in one line
    impossible = run_train("model.dropout=1.5", f"hydra.run.dir={tmp_path}")
    assert impossible.returncode == 2 and "model.dropout=1.5" in impossible.stderr
    assert "Traceback" not in impossible.stderr and len(impossible.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "train_summary.json").exists()


@pytest.mark.parametrize("script, override, key", [
    ("evaluate", "batch_size=0", "batch_size=0"),
    ("report", "mode=nine_crop", "mode='nine_crop'"),
    ("pca", "data.pca.workers=0", "data.pca.workers=0"),
    ("evaluate", "modez=[center]", "modez"),
])
def test_every_entry_point_names_a_bad_key_in_one_line(script, override, key):
    result = subprocess.run([PYTHON, f"src/{script}.py", override], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert key in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_new_key_in_a_dict_says_hydras_way_out_in_the_one_line():
    """README's mirror md5s: `data.source.md5={name: md5}` adds a key to an empty dict, which Hydra allows only with a
    `+`; its own hint is on a later line of its message, which the one line must keep."""
    result = subprocess.run([PYTHON, "src/download.py", "data=imagenet", "data.source.md5={a.tar: 0123}", "--cfg", "job"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "to append to your config use +data.source.md5=" in result.stderr, result.stderr
    plus = subprocess.run([PYTHON, "src/download.py", "data=imagenet", "+data.source.md5={a.tar: 0123}", "--cfg", "job"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert plus.returncode == 0 and "a.tar: '0123'" in plus.stdout, plus.stderr[-2000:]


def test_the_cli_names_a_typo_inside_an_experiment_file(tmp_path):
    """Hydra's message puts the key on its second line; the one line the user sees must hold it."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "experiment" / "typo.yaml").write_text("# @package _global_\nexperiment_name: typo\nmodel:\n  dropuot: 0.5\n")
    result = run_train("--config-dir", str(conf), "+experiment=typo", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2 and "dropuot" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_impossible_seed_is_named_and_leaves_no_run_folder(tmp_path):
    result = run_train("seed=-1", f"hydra.run.dir={tmp_path / 'seed-1'}")
    assert result.returncode == 2 and "seed=-1" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "seed-1").exists()  # Hydra made it before the check: it is removed again, being empty


@pytest.mark.parametrize("preset", ["gpu", "ddp2"])
def test_a_gpu_preset_on_a_machine_without_its_gpus_is_one_line_and_leaves_no_run_folder(tmp_path, preset):
    """It was Lightning's traceback, after run_config.json had been written into the run folder (issue 24)."""
    import torch

    if torch.cuda.device_count() >= 2:
        pytest.skip("this machine has the GPUs the presets ask for")
    run = tmp_path / preset
    result = run_train(f"trainer={preset}", f"hydra.run.dir={run}")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"trainer.accelerator=gpu with trainer.devices={2 if preset == 'ddp2' else 1} needs" in result.stderr
    assert "use trainer=cpu" in result.stderr and not run.exists()


def test_the_gpus_a_devices_value_asks_for():
    from alexnet_repro.training.run import gpus_wanted

    assert [gpus_wanted(d) for d in (1, 2, [0, 3], "auto", -1, "0,1", "3", "2,")] == [1, 2, 2, 1, 1, 2, 3, 1]
