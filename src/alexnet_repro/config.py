"""The schema of every config the entry points read: keys and types here, values in conf/ (YAML).

Each group's YAML extends its schema (`defaults: [<group>_schema, _self_]`), registered below in Hydra's
ConfigStore, so a key that the schema lacks (a typo) or a value of the wrong type fails while Hydra composes.
A schema field either has its default here (the model's: the paper's values, in models/alexnet.py) or is
MISSING and gets its value from the YAML: never both. Ranges are checked in `__post_init__`, which runs when
`validate` turns the composed config into these dataclasses; the error names the full key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from alexnet_repro.data.generate import GeneratedSpec
from alexnet_repro.data.store import DECODE_SIZES
from alexnet_repro.models import AlexNetConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # src/alexnet_repro/config.py -> the repository


class ConfigError(ValueError):
    pass


def choice(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of {list(allowed)}")


def in_range(key: str, value, low=None, high=None, low_open: bool = False) -> None:
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        lo = "(" if low_open else "["
        raise ConfigError(f"{key}={value} is impossible; it must lie in {lo}{low}, {high}]")


@dataclass
class PathsConfig:
    root: str = MISSING
    data: str = MISSING
    runs: str = MISSING
    results: str = MISSING
    reports: str = MISSING


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


@dataclass
class SourceConfig:
    kind: str = MISSING  # embedded | ilsvrc | imagefolder | imagenette
    location: str = MISSING  # folder or URL prefix of the archives, or the ImageFolder root
    verify_md5: bool = MISSING
    generated: GeneratedSpec = field(default_factory=GeneratedSpec)  # kind=embedded only
    download_dir: str = "${paths.data}/archives/${data.name}"  # where archives given by URL are saved

    def __post_init__(self) -> None:
        choice("data.source.kind", self.kind, ("embedded", "ilsvrc", "imagefolder", "imagenette"))
        in_range("data.source.generated.classes", self.generated.classes, 2)


@dataclass
class ResizeConfig:
    encoding: str = MISSING  # jpeg | raw
    quality: int = MISSING
    shard_size: int = MISSING
    workers: int = MISSING
    skip_bad: bool = MISSING

    def __post_init__(self) -> None:
        choice("data.resize.encoding", self.encoding, ("jpeg", "raw"))
        in_range("data.resize.quality", self.quality, 1, 100)
        in_range("data.resize.shard_size", self.shard_size, 1)
        in_range("data.resize.workers", self.workers, 1)


@dataclass
class PCAConfig:
    max_images: Optional[int] = MISSING
    seed: int = MISSING
    workers: int = MISSING

    def __post_init__(self) -> None:
        in_range("data.pca.workers", self.workers, 1)


@dataclass
class DataConfig:
    name: str = MISSING
    source: SourceConfig = MISSING
    raw_dir: str = "${paths.data}/raw/${data.name}"
    resize: ResizeConfig = MISSING
    pca: PCAConfig = MISSING
    store_dir: str = "${paths.data}/resized/${data.name}"
    stats_path: str = "${paths.data}/stats/${data.name}/pca_stats.json"
    batch_size: int = MISSING  # global; each of N devices takes batch_size / N (section 5)
    workers: Any = MISSING  # loader processes per device, or "auto": the node's cores shared by its devices
    decoder: str = "cpu"  # cpu (simplejpeg in the loader's workers) | dali (nvJPEG on the GPU: the dali extra)
    # The side the loader decodes the store's 256x256 images at: 256 (the paper), or 128/64/32, which the JPEG
    # decoder produces at a fraction of the cost (DCT scaling) for a profile that scales the whole input down.
    image_size: int = 256
    in_memory: bool = False  # decode each split once and keep it in RAM: for small sets (the embedded one)

    def __post_init__(self) -> None:
        in_range("data.batch_size", self.batch_size, 1)
        if self.workers != "auto":
            if isinstance(self.workers, bool) or not isinstance(self.workers, int):
                raise ConfigError(f"data.workers={self.workers!r} is impossible; it must be a number >= 0 or auto")
            in_range("data.workers", self.workers, 0)
        choice("data.decoder", self.decoder, ("cpu", "dali"))
        if self.image_size not in DECODE_SIZES:
            raise ValueError(f"data.image_size={self.image_size}: choose one of {list(DECODE_SIZES)}")


@dataclass
class TrainerConfig:
    accelerator: str = MISSING
    devices: Any = MISSING
    num_nodes: int = MISSING
    strategy: str = MISSING
    precision: str = MISSING
    max_epochs: int = MISSING
    fast_dev_run: bool = MISSING
    limit_train_batches: Optional[float] = MISSING
    limit_val_batches: Optional[float] = MISSING
    log_every_n_steps: int = MISSING
    ckpt_every_n_steps: int = MISSING
    enable_progress_bar: bool = MISSING
    deterministic: bool = MISSING
    channels_last: bool = MISSING  # NHWC net and batches: what cuDNN's fastest conv kernels want
    compile: bool = MISSING  # torch.compile the net in place (state_dict keys stay clean for export)
    compile_mode: str = MISSING  # default | reduce-overhead | max-autotune
    checkpoint_every_minutes: Optional[float] = MISSING  # last.ckpt also this often (wall clock); null: off

    def __post_init__(self) -> None:
        in_range("trainer.max_epochs", self.max_epochs, 1)
        in_range("trainer.num_nodes", self.num_nodes, 1)
        in_range("trainer.ckpt_every_n_steps", self.ckpt_every_n_steps, 1)
        choice("trainer.compile_mode", self.compile_mode, ("default", "reduce-overhead", "max-autotune"))
        if self.checkpoint_every_minutes is not None:
            in_range("trainer.checkpoint_every_minutes", self.checkpoint_every_minutes, 0, low_open=True)


@dataclass
class LoggerConfig:
    backend: str = MISSING  # wandb | none
    project: str = MISSING
    entity: Optional[str] = MISSING
    mode: str = MISSING  # offline | online | disabled; WANDB_MODE overrides
    tags: list = MISSING
    log_filters: bool = MISSING

    def __post_init__(self) -> None:
        choice("logger.backend", self.backend, ("wandb", "none"))
        choice("logger.mode", self.mode, ("offline", "online", "disabled"))


@dataclass
class PrepareConfig:
    """src/download.py, src/resize.py, src/pca.py."""

    paths: PathsConfig = MISSING
    data: DataConfig = MISSING


@dataclass
class TrainConfig:
    """src/train.py."""

    paths: PathsConfig = MISSING
    experiment_name: str = MISSING
    profile_name: str = MISSING
    seed: int = MISSING
    ckpt_path: Optional[str] = MISSING
    fresh_start: bool = MISSING
    data: DataConfig = MISSING
    model: AlexNetConfig = MISSING
    augment: AugmentConfig = MISSING
    optim: OptimConfig = MISSING
    trainer: TrainerConfig = MISSING
    logger: LoggerConfig = MISSING

    def __post_init__(self) -> None:
        if self.model.input_size > self.data.image_size:
            raise ValueError(f"model.input_size={self.model.input_size} does not fit in "
                             f"data.image_size={self.data.image_size}: crops are cut from the decoded image")


MODES = ("center", "ten_crop")  # section 4.1: one centre patch, or ten patches averaged


@dataclass
class EvaluateConfig:
    """src/evaluate.py."""

    paths: PathsConfig = MISSING
    data: DataConfig = MISSING
    logger: LoggerConfig = MISSING
    experiment_name: str = MISSING
    profile_name: str = MISSING
    runs_dir: str = MISSING
    out_dir: str = MISSING
    modes: list = MISSING
    batch_size: int = MISSING
    workers: int = MISSING
    features_train_max: int = MISSING
    features_for: list = MISSING
    device: str = MISSING

    def __post_init__(self) -> None:
        for mode in self.modes:
            choice("modes", mode, MODES)
        in_range("batch_size", self.batch_size, 1)
        in_range("workers", self.workers, 0)
        in_range("features_train_max", self.features_train_max, 0)
        choice("device", self.device, ("auto", "cpu", "cuda"))


@dataclass
class ReportConfig:
    """src/report.py."""

    paths: PathsConfig = MISSING
    data: DataConfig = MISSING
    profile_name: str = MISSING
    results_dir: str = MISSING
    out_dir: str = MISSING
    baseline: str = MISSING
    mode: str = MISSING
    bootstrap_samples: int = MISSING
    seed: int = MISSING
    relu_tanh_threshold: float = MISSING  # Figure 1's training-error level (the paper: 25% on CIFAR-10)

    def __post_init__(self) -> None:
        choice("mode", self.mode, MODES)
        in_range("bootstrap_samples", self.bootstrap_samples, 100)
        if not 0 < self.relu_tanh_threshold < 1:
            raise ValueError(f"relu_tanh_threshold={self.relu_tanh_threshold}: it must lie in (0, 1)")


GROUP_SCHEMAS = {"paths": PathsConfig, "data": DataConfig, "model": AlexNetConfig, "augment": AugmentConfig,
                 "optim": OptimConfig, "trainer": TrainerConfig, "logger": LoggerConfig}
ROOT_SCHEMAS = {"prepare": PrepareConfig, "train": TrainConfig, "evaluate": EvaluateConfig, "report": ReportConfig}


def register() -> None:
    """Hydra's ConfigStore: `<group>/schema` for every group and `<entry point>_schema` for the roots."""
    store = ConfigStore.instance()
    for group, schema in GROUP_SCHEMAS.items():
        store.store(group=group, name="schema", node=schema)
    for name, schema in ROOT_SCHEMAS.items():
        store.store(name=f"{name}_schema", node=schema)
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))


register()


def _model_key(message: str) -> str:
    """The model's own checks name its fields (it knows no config); here they get the group in front."""
    return message if message.startswith("model.") else f"model.{message}"


def validate(cfg: DictConfig | dict, schema: type = TrainConfig):
    """Typed, checked copy of a composed config; raises ConfigError naming the offending key."""
    plain = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    plain.pop("hydra", None)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), plain)
        return OmegaConf.to_object(merged)
    except ConfigError:
        raise
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or getattr(err, "key", None)
        reason = str(getattr(err, "msg", err)).splitlines()[0]
        raise ConfigError(f"invalid config key {key!r}: {reason}") from None
    except ValueError as err:  # AlexNetConfig's and GeneratedSpec's own checks
        raise ConfigError(_model_key(str(err))) from None
