"""The GPU path's switches, exercised on a CPU (no GPU here: none of this is a speed measurement): bf16
autocast, torch.compile, channels_last, the gpu preset, the data-wait metric, time-based checkpoints and
bench/gpu.py."""

from __future__ import annotations

import csv
import subprocess
import time
from types import SimpleNamespace

import pytest
import torch

from alexnet_repro.basics import ConfigError
from alexnet_repro.export import load_model
from alexnet_repro.models.alexnet import alexnet
from alexnet_repro.schema import validate
from alexnet_repro.training.callbacks import LastCheckpoint
from alexnet_repro.training.config import TrainConfig
from alexnet_repro.training.run import train
from conftest import PYTHON, ROOT, compose_train, data_overrides


def embedded_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return alexnet(10, width=0.25, init="kaiming", input_size=115).eval()


def test_bf16_autocast_forward_matches_fp32():
    net, x = embedded_net(), torch.randn(8, 3, 115, 115, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = net(x).softmax(1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(x).float().softmax(1)
    # bf16 keeps 8 bits of mantissa (~0.4% per rounding); through 8 layers the class probabilities may move
    # by about a percent. Tolerance: 0.02 absolute on any probability (measured: 0.0015).
    assert (low - reference).abs().max().item() < 0.02


def test_the_net_compiles_without_graph_breaks():
    """TowerLRN's reshape/cumsum and the grouped convs trace into one graph, in training and evaluation."""
    net, x = embedded_net(), torch.randn(2, 3, 115, 115)
    for training in (True, False):
        explained = torch._dynamo.explain(net.train(training))(x)
        assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons


@pytest.mark.slow
def test_compiled_forward_matches_eager():
    net, x = embedded_net(), torch.randn(2, 3, 115, 115, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        eager = net(x)
        net.compile()
        compiled = net(x)
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-4)
    assert not any(k.startswith("_orig_mod") for k in net.state_dict())  # compiled in place: clean keys


def test_gpu_preset_composes_with_compile_on_the_cli():
    args = [PYTHON, "src/train.py", "+experiment=baseline", "trainer=gpu", "trainer.compile=true", "--cfg", "job"]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    for line in ("precision: bf16-mixed", "channels_last: true", "compile: true", "accelerator: gpu"):
        assert line in result.stdout, line


def test_gpu_and_ddp2_presets_and_a_bad_compile_mode():
    gpu = validate(compose_train(["trainer=gpu"]), TrainConfig).trainer
    assert (gpu.accelerator, gpu.precision, gpu.channels_last, gpu.compile) == ("gpu", "bf16-mixed", True, False)
    ddp = validate(compose_train(["trainer=ddp2"]), TrainConfig).trainer
    assert (ddp.devices, ddp.strategy, ddp.precision, ddp.channels_last) == (2, "ddp", "bf16-mixed", True)
    cpu = validate(compose_train([]), TrainConfig).trainer  # the default stays CPU-safe: fp32, no compile;
    # channels last, the faster layout on a CPU too (docs/performance.md, "Embedded training on a CPU")
    assert (cpu.precision, cpu.channels_last, cpu.compile, cpu.checkpoint_every_minutes) == ("32-true", True,
                                                                                           False, None)
    with pytest.raises(ConfigError, match="trainer.compile_mode='fast'"):
        validate(compose_train(["trainer.compile_mode=fast"]), TrainConfig)
    with pytest.raises(ConfigError, match="trainer.checkpoint_every_minutes"):
        validate(compose_train(["trainer.checkpoint_every_minutes=0"]), TrainConfig)


def read_rows(path):
    return list(csv.DictReader(open(path)))


def test_data_wait_fraction_and_per_device_rate_are_logged(tiny_data, tmp_path):
    cfg = compose_train(["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=1", "logger=none",
                         "trainer.limit_train_batches=3", "trainer.limit_val_batches=1"])
    summary = train(cfg, tmp_path)
    assert 0.0 <= summary["metrics"]["train/data_wait_frac"] <= 1.0
    row = read_rows(tmp_path / "history.csv")[-1]
    assert 0.0 <= float(row["train/data_wait_frac"]) <= 1.0
    assert float(row["train/images_per_s_per_device"]) == pytest.approx(float(row["train/images_per_s"]))


@pytest.mark.slow
def test_channels_last_and_compiled_training_exports_a_plain_model(tiny_data, tmp_path):
    cfg = compose_train(["+experiment=baseline", *data_overrides(tiny_data), "trainer.max_epochs=1", "logger=none",
                         "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
                         "trainer.channels_last=true", "trainer.compile=true"])
    summary = train(cfg, tmp_path)
    assert summary["global_step"] == 2
    state = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    assert not any("_orig_mod" in k for k in state)
    exported = load_model(tmp_path / "model.pt")
    size = exported.net.spec.input_size
    assert torch.isfinite(exported.net(torch.randn(1, 3, size, size))).all()


class FakeTrainer(SimpleNamespace):
    def save_checkpoint(self, path):
        self.saves += 1


def test_last_checkpoint_also_saves_on_the_clock():
    trainer = FakeTrainer(world_size=1, global_step=1, fast_dev_run=False, saves=0)
    by_steps = LastCheckpoint("unused", every_n_steps=1000)
    by_clock = LastCheckpoint("unused", every_n_steps=1000, every_minutes=1e-4)  # 6 ms
    time.sleep(0.02)
    for callback in (by_steps, by_clock):
        callback.on_train_batch_end(trainer, None, None, None, 0)
    assert trainer.saves == 1
    by_clock.on_train_batch_end(trainer, None, None, None, 1)  # the clock restarted at the save
    assert trainer.saves == 1


@pytest.mark.slow
def test_gpu_bench_runs_every_variant_on_cpu():
    args = [PYTHON, "bench/gpu.py", "--device", "cpu", "--width", "0.125", "--input", "67", "--batch", "8",
            "--steps", "3", "--classes", "10", "--images", "64", "--content", "generated"]
    started = time.perf_counter()
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()
            if line.startswith(("fp32 ", "bf16"))}
    assert set(rows) == {"fp32", "bf16", "bf16+channels_last", "bf16+channels_last+compile"}
    for name, (rate, ratio, mfu) in rows.items():
        assert float(rate) > 0 and float(ratio.rstrip("x")) > 0 and float(mfu) >= 0, name
    assert "hardware: CPU" in result.stdout
    training = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.startswith("train:")}
    assert set(training) == {"train:ours,cpu-decoder,bf16+cl", "train:plain-recipe,fp32",
                             "train:ours,dali-decoder:"}  # DALI's row says why it did not run on a CPU
    for name in ("train:ours,cpu-decoder,bf16+cl", "train:plain-recipe,fp32"):
        rate, ratio, mfu = training[name]
        assert float(rate) > 0 and float(ratio.rstrip("x")) > 0 and float(mfu) >= 0, name
    assert training["train:ours,dali-decoder:"][:2] == ["not", "run"]
    print(f"bench/gpu.py on CPU: {time.perf_counter() - started:.1f} s")  # < 60 s wanted, compile included



@pytest.mark.skipif(torch.cuda.is_available(), reason="says what it does where there is no GPU")
def test_gpu_bench_without_a_gpu_stops_in_one_line_instead_of_running_full_size_on_the_cpu():
    result = subprocess.run([PYTHON, "bench/gpu.py"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and not result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("gpu.py: error: no CUDA device here")
