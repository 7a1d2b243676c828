"""The schema of src/train.py's config (conf/train.yaml and the groups it composes): keys and types here,
values in conf/. The model's fields and defaults (the paper's) are models/spec.py's AlexNetConfig."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import MISSING

from alexnet_repro.basics import ConfigError, choice, in_range
from alexnet_repro.data.config import DataConfig
from alexnet_repro.models import AlexNetConfig, LRNConfig
from alexnet_repro.schema import LoggerConfig, PathsConfig, register


@dataclass
class AugmentConfig:
    random_crop: bool = MISSING
    flip: bool = MISSING
    lighting_std: float = MISSING
    lighting_sqrt_eigenvalues: bool = MISSING
    mean: str = MISSING
    input_scale: float = MISSING

    def __post_init__(self) -> None:
        in_range("augment.lighting_std", self.lighting_std, 0.0, 1.0)
        choice("augment.mean", self.mean, ("image", "channel", "none"))
        in_range("augment.input_scale", self.input_scale, 0.0, low_open=True)


@dataclass
class OptimConfig:
    lr: float = MISSING
    momentum: float = MISSING
    weight_decay: float = MISSING
    decay_biases: bool = MISSING  # the paper's update rule (section 5) applies weight decay to every weight
    schedule: str = MISSING
    factor: float = MISSING
    plateau_patience: int = MISSING
    max_reductions: int = MISSING
    step_epochs: int = MISSING

    def __post_init__(self) -> None:
        in_range("optim.lr", self.lr, 0.0, low_open=True)
        in_range("optim.momentum", self.momentum, 0.0, 1.0)
        in_range("optim.weight_decay", self.weight_decay, 0.0)
        choice("optim.schedule", self.schedule, ("plateau", "step"))
        in_range("optim.factor", self.factor, 0.0, 1.0, low_open=True)
        in_range("optim.plateau_patience", self.plateau_patience, 0)
        in_range("optim.max_reductions", self.max_reductions, 0)
        in_range("optim.step_epochs", self.step_epochs, 1)


def _batch_limit(key: str, value) -> None:
    """Lightning reads an int as a number of batches and a float as a fraction of the epoch: 1 is one batch,
    1.0 all of them. The schema keeps the type the user wrote, so `=1` means what Lightning means by it."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}={value!r} is impossible; give a number of batches (int) or a fraction (float)")
    if isinstance(value, int):
        in_range(key, value, 1)
    else:
        in_range(key, value, 0.0, 1.0, low_open=True)


@dataclass
class TrainerConfig:
    accelerator: str = MISSING
    devices: Any = MISSING
    num_nodes: int = MISSING
    strategy: str = MISSING
    precision: str = MISSING
    max_epochs: int = MISSING
    fast_dev_run: bool = MISSING
    limit_train_batches: Any = MISSING  # int: batches; float: fraction of the epoch (Lightning's reading)
    limit_val_batches: Any = MISSING
    log_every_n_steps: int = MISSING
    ckpt_every_n_steps: int = MISSING
    enable_progress_bar: bool = MISSING
    deterministic: bool = MISSING
    channels_last: bool = MISSING  # NHWC net and batches: what cuDNN's fastest conv kernels want
    compile: bool = MISSING  # torch.compile the net in place (state_dict keys stay clean for export)
    compile_mode: str = MISSING  # default | reduce-overhead | max-autotune
    checkpoint_every_minutes: Optional[float] = MISSING  # last.ckpt also this often (wall clock); null: off
    cpu_threads: Optional[int] = MISSING  # torch's intra-op threads when training on a CPU; null: torch's choice

    def __post_init__(self) -> None:
        in_range("trainer.max_epochs", self.max_epochs, 1)
        in_range("trainer.num_nodes", self.num_nodes, 1)
        in_range("trainer.ckpt_every_n_steps", self.ckpt_every_n_steps, 1)
        _batch_limit("trainer.limit_train_batches", self.limit_train_batches)
        _batch_limit("trainer.limit_val_batches", self.limit_val_batches)
        choice("trainer.compile_mode", self.compile_mode, ("default", "reduce-overhead", "max-autotune"))
        if self.checkpoint_every_minutes is not None:
            in_range("trainer.checkpoint_every_minutes", self.checkpoint_every_minutes, 0, low_open=True)
        if self.cpu_threads is not None:
            in_range("trainer.cpu_threads", self.cpu_threads, 1)


@dataclass
class TrainConfig:
    """src/train.py."""

    paths: PathsConfig = MISSING
    experiment_name: str = MISSING
    profile_name: str = MISSING
    seed: int = MISSING
    ckpt_path: Optional[str] = MISSING
    fresh_start: bool = MISSING
    # A plain model (another run's model.pt) whose weights start this run; its last layer is replaced when the
    # classes differ (section 6's pretrain-then-fine-tune rows). null: the initialisation model.init names.
    init_from: Optional[str] = MISSING
    data: DataConfig = MISSING
    model: AlexNetConfig = MISSING
    augment: AugmentConfig = MISSING
    optim: OptimConfig = MISSING
    trainer: TrainerConfig = MISSING
    logger: LoggerConfig = MISSING

    def __post_init__(self) -> None:
        in_range("seed", self.seed, 0, 2**31 - 1)
        if self.model.input_size > self.data.image_size:
            raise ConfigError(f"model.input_size={self.model.input_size} does not fit in "
                              f"data.image_size={self.data.image_size}: crops are cut from the decoded image")


register({"model": AlexNetConfig, "augment": AugmentConfig, "optim": OptimConfig, "trainer": TrainerConfig,
          "logger": LoggerConfig}, ("train", TrainConfig), prefixes={AlexNetConfig: "model", LRNConfig: "model.lrn"})
