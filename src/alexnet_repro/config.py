"""The schema of every config the stages read, and the checks run before any work starts.

Hydra composes YAML from conf/; `validate` merges the result into these dataclasses, so an unknown key
(a typo) or a wrong type fails with the key named, and `check_values` rejects impossible values
(dropout 1.5, a negative learning rate, three towers) with the key and the allowed range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    pass


@dataclass
class LRNConfig:
    """Section 3.3: k=2, n=5, alpha=1e-4, beta=0.75, after the ReLU of conv1 and conv2."""

    enabled: bool = True
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0
    alpha_over_n: bool = True


@dataclass
class ModelConfig:
    activation: str = "relu"  # section 3.1: relu | tanh
    lrn: LRNConfig = field(default_factory=LRNConfig)
    pool_kernel: int = 3  # section 3.4: z=3, s=2 overlaps; z=2, s=2 does not
    pool_stride: int = 2
    dropout: float = 0.5  # section 4.2, fc6 and fc7 only; 0 switches it off
    towers: int = 2  # 2: the paper's net; 1: the same widths with no grouping
    half_kernels: bool = False  # section 3.2's one-GPU net: half of conv1-conv4's kernels, conv5 and fc kept
    input_size: int = 227
    width: float = 1.0  # scales every layer's width; < 1 for the small embedded profile
    init: str = "paper"  # section 5: paper (biases 1) | caffe (biases 0.1) | kaiming (for small fast runs)


@dataclass
class AugmentConfig:
    random_crop: bool = True
    flip: bool = True
    lighting_std: float = 0.1  # 0 switches PCA lighting off
    lighting_sqrt_eigenvalues: bool = False  # the paper multiplies by the eigenvalue itself
    mean: str = "image"  # image (per-pixel mean, the paper) | channel | none
    input_scale: float = 255.0  # the paper feeds raw 0..255 pixel values, minus the mean


@dataclass
class OptimConfig:
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "plateau"  # plateau (the paper) | step
    factor: float = 0.1
    plateau_patience: int = 2
    max_reductions: int = 3
    step_epochs: int = 30


@dataclass
class GeneratedConfig:
    classes: int = 10
    train_per_class: int = 130
    val_per_class: int = 50
    seed: int = 0


@dataclass
class SourceConfig:
    kind: str = "embedded"  # embedded | ilsvrc | imagefolder | imagenette
    location: str = "data/archives/embedded"  # folder or URL prefix of the archives, or the ImageFolder root
    verify_md5: bool = True
    generated: GeneratedConfig = field(default_factory=GeneratedConfig)


@dataclass
class ResizeConfig:
    encoding: str = "jpeg"  # jpeg | raw (see README: measured)
    quality: int = 90
    shard_size: int = 1000
    workers: int = 2
    skip_bad: bool = False


@dataclass
class PCAConfig:
    max_images: Optional[int] = None
    seed: int = 0
    workers: int = 2


@dataclass
class DataConfig:
    name: str = "embedded"
    source: SourceConfig = field(default_factory=SourceConfig)
    raw_dir: str = "data/raw/embedded"
    resize: ResizeConfig = field(default_factory=ResizeConfig)
    pca: PCAConfig = field(default_factory=PCAConfig)
    store_dir: str = "data/resized/embedded"
    stats_path: str = "data/stats/embedded/pca_stats.json"
    batch_size: int = 128  # global; each of N devices takes batch_size / N (section 5)
    workers: int = 2


@dataclass
class TrainerConfig:
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    max_epochs: int = 90
    fast_dev_run: bool = False
    limit_train_batches: Optional[float] = None
    limit_val_batches: Optional[float] = None
    log_every_n_steps: int = 10
    ckpt_every_n_steps: int = 100
    enable_progress_bar: bool = True
    deterministic: bool = False


@dataclass
class LoggerConfig:
    backend: str = "wandb"  # wandb | none
    project: str = "alexnet-repro"
    entity: Optional[str] = None
    mode: str = "offline"  # offline | online | disabled; WANDB_MODE overrides
    tags: list = field(default_factory=list)
    log_filters: bool = True


@dataclass
class TrainConfig:
    experiment_name: str = "default"
    profile_name: str = "embedded"
    seed: int = 0
    ckpt_path: Optional[str] = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)


def _choice(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of {list(allowed)}")


def _range(key: str, value, low=None, high=None, low_open=False) -> None:
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        lo = "(" if low_open else "["
        raise ConfigError(f"{key}={value} is impossible; it must lie in {lo}{low}, {high}]")


def check_values(cfg: TrainConfig) -> None:
    m, a, o, t = cfg.model, cfg.augment, cfg.optim, cfg.trainer  # data: check_data
    _choice("model.activation", m.activation, ("relu", "tanh"))
    _choice("model.towers", m.towers, (1, 2))
    _choice("model.input_size", m.input_size, (224, 227))
    _choice("model.init", m.init, ("paper", "caffe", "kaiming"))
    _range("model.dropout", m.dropout, 0.0, 1.0)
    if m.dropout == 1.0:
        raise ConfigError("model.dropout=1.0 is impossible: it drops every unit")
    _range("model.width", m.width, 0.0, 4.0, low_open=True)
    _range("model.pool_kernel", m.pool_kernel, 1, 7)
    _range("model.pool_stride", m.pool_stride, 1, m.pool_kernel)
    _range("model.lrn.size", m.lrn.size, 1, 64)
    _range("model.lrn.alpha", m.lrn.alpha, 0.0)
    _range("model.lrn.k", m.lrn.k, 0.0, low_open=True)
    _range("augment.lighting_std", a.lighting_std, 0.0, 1.0)
    _choice("augment.mean", a.mean, ("image", "channel", "none"))
    _range("augment.input_scale", a.input_scale, 0.0, low_open=True)
    _range("optim.lr", o.lr, 0.0, low_open=True)
    _range("optim.momentum", o.momentum, 0.0, 1.0)
    _range("optim.weight_decay", o.weight_decay, 0.0)
    _choice("optim.schedule", o.schedule, ("plateau", "step"))
    _range("optim.factor", o.factor, 0.0, 1.0, low_open=True)
    _range("optim.max_reductions", o.max_reductions, 0)
    _range("optim.step_epochs", o.step_epochs, 1)
    _range("trainer.max_epochs", t.max_epochs, 1)
    _range("trainer.num_nodes", t.num_nodes, 1)
    _range("trainer.ckpt_every_n_steps", t.ckpt_every_n_steps, 1)
    _choice("logger.backend", cfg.logger.backend, ("wandb", "none"))
    _choice("logger.mode", cfg.logger.mode, ("offline", "online", "disabled"))


def check_data(d: DataConfig) -> None:
    _choice("data.source.kind", d.source.kind, ("embedded", "ilsvrc", "imagefolder", "imagenette"))
    _choice("data.resize.encoding", d.resize.encoding, ("jpeg", "raw"))
    _range("data.resize.quality", d.resize.quality, 1, 100)
    _range("data.resize.shard_size", d.resize.shard_size, 1)
    _range("data.resize.workers", d.resize.workers, 1)
    _range("data.pca.workers", d.pca.workers, 1)
    _range("data.source.generated.classes", d.source.generated.classes, 2)
    _range("data.batch_size", d.batch_size, 1)
    _range("data.workers", d.workers, 0)


@dataclass
class PrepareConfig:
    data: DataConfig = field(default_factory=DataConfig)


def validate(cfg: DictConfig | dict, schema: type = TrainConfig):
    """Typed, checked copy of a composed config; raises ConfigError naming the offending key."""
    plain = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    plain.pop("hydra", None)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), plain)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or getattr(err, "key", None)
        reason = str(getattr(err, "msg", err)).splitlines()[0]
        raise ConfigError(f"invalid config key {key!r}: {reason}") from None
    typed = OmegaConf.to_object(merged)
    check_data(typed.data)
    if isinstance(typed, TrainConfig):
        check_values(typed)
    return typed
