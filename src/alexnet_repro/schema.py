"""How a stage's config is checked: keys and types in dataclass schemas (each stage's schema lives beside the
code that reads it: data/config.py, training/config.py, evaluation/config.py, report/config.py), values in
conf/ (YAML).

Each group's YAML extends its schema (`defaults: [schema, _self_]`), registered in Hydra's ConfigStore by the
module that defines it, so a key that the schema lacks (a typo) or a value of the wrong type fails while Hydra
composes. A schema field either has its default in its dataclass or is MISSING and gets its value from the YAML:
never both. Ranges are checked in `__post_init__`, which runs when `validate` turns the composed config into
the dataclasses; the error names the full key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from alexnet_repro.basics import PROJECT_ROOT, ConfigError, choice

# Schemas whose checks raise plain ValueErrors naming their own fields (the model knows no application
# config): `validate` puts their group in front. Filled by the module that registers the group.
FIELD_PREFIX: dict[type, str] = {}


@dataclass
class PathsConfig:
    root: str = MISSING
    data: str = MISSING
    runs: str = MISSING
    results: str = MISSING
    reports: str = MISSING


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


def register(groups: dict[str, type], root: tuple[str, type] | None = None,
             prefixes: dict[type, str] | None = None) -> None:
    """Hydra's ConfigStore: `<group>/schema` for each group, `<entry point>_schema` for the root."""
    store = ConfigStore.instance()
    for group, schema in {"paths": PathsConfig, **groups}.items():
        store.store(group=group, name="schema", node=schema)
    if root is not None:
        store.store(name=f"{root[0]}_schema", node=root[1])
    FIELD_PREFIX.update(prefixes or {})
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))
    if not OmegaConf.has_resolver("pipeline"):
        OmegaConf.register_new_resolver("pipeline", pipeline_param)


PIPELINE_PARAMS = PROJECT_ROOT / "params.yaml"


def pipeline_param(key: str):
    """`${pipeline:seeds}`: a pipeline-level choice from params.yaml, its one home (DVC cannot put a list on a
    stage's command line, so a stage that needs one reads it here)."""
    params = OmegaConf.load(PIPELINE_PARAMS)
    if key not in params:
        raise ConfigError(f"{PIPELINE_PARAMS} has no key {key!r}")
    return OmegaConf.to_container(params)[key]


def _field_owner(err: BaseException) -> type | None:
    """The schema whose __post_init__ raised err: the innermost frame running a dataclass's own check."""
    owner, tb = None, err.__traceback__
    while tb is not None:
        self = tb.tb_frame.f_locals.get("self")
        if self is not None and type(self) in FIELD_PREFIX:
            owner = type(self)
        tb = tb.tb_next
    return owner


def validate(cfg: DictConfig | dict, schema: type):
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
    except ValueError as err:
        owner = _field_owner(err)
        prefix = f"{FIELD_PREFIX[owner]}." if owner is not None else ""
        raise ConfigError(f"{prefix}{err}") from None
