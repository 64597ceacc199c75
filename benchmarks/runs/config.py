"""Compose one run's configuration with Hydra's compose API (style guide B3).

The primary config is :class:`RunConfig`; the groups ``method`` and ``dataset`` hold the ``Config``
dataclass of the requested method and dataset loader, registered lazily so that only those two
modules are imported. Structured configs are in struct mode: a misspelled key is an error that
names the key.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, HydraException, OverrideParseException
from omegaconf import MISSING, DictConfig, OmegaConf

from benchmarks.core import registry
from benchmarks.core.registry import NO_PROMPT


@dataclass
class PathsConfig:
    """Where inputs live; relative paths are relative to the repository root."""

    data_root: str = "."  # dataset roots are relative to this unless absolute
    checkpoints: str = "checkpoints"  # weights files named in method configs live here
    results: str = "results"


@dataclass
class EvalConfig:
    """The evaluation protocol, recorded in every metrics file."""

    threshold: float = 0.5  # foreground = probability > threshold (strict; never logits), Part 9
    hd95: str = "max_directed"  # "max_directed" (MONAI/DeepMind) or "pooled" (medpy)
    empty_one: str = "diagonal"  # HD95 when exactly one mask is empty: "diagonal" or "nan"
    nsd_tolerance: float = 1.0  # tau of NSD (surface Dice), in the distance unit (mm, else px)
    include_normal: bool = True  # count lesion-free (normal) images in the headline means


@dataclass
class RunConfig:
    """One grid cell: method x dataset x backbone x fold x seed."""

    defaults: list[Any] = field(
        default_factory=lambda: ["_self_", {"method": MISSING}, {"dataset": MISSING}]
    )
    method: Any = MISSING  # filled by the group `method=<id>`
    dataset: Any = MISSING  # filled by the group `dataset=<loader>`
    dataset_id: str = MISSING  # the grid's dataset id (several ids may share one loader)
    fold: int = 0  # test fold of the split; the other folds train
    seed: int = 0  # training seed (the split has its own seed in the dataset config)
    device: str = "auto"  # "auto" = cuda when available, else cpu
    split_file: str = ""  # written by `cli split`; required by train/predict
    prompt: str = NO_PROMPT  # prompt protocol (grid axis; benchmarks/data/prompts.py)
    prompts_file: str = ""  # written by `cli prompts`; required when prompt != "none"
    train_from: str = ""  # external test set: the dataset id whose model this cell uses
    paths: PathsConfig = field(default_factory=PathsConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


@dataclass
class DataRunConfig:
    """A dataset on its own (for `cli split` and `cli check-data`)."""

    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"dataset": MISSING}])
    dataset: Any = MISSING
    dataset_id: str = MISSING
    train_from: str = ""  # external test set: every case is test (config.yaml train_from)
    paths: PathsConfig = field(default_factory=PathsConfig)


@dataclass
class TrainedRunConfig(RunConfig):
    """A trained cell as the evaluate stage sees it: the method section is the trained run's own
    (``train/config.resolved.yaml``), so no method module, and no torch, is imported."""

    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"dataset": MISSING}])
    method: Any = None  # set from the trained run's resolved config after composition
    method_id: str = MISSING  # the `method=<id>` choice of the trained run


@dataclass
class ThroughputConfig:
    """One throughput measurement: method x backbone x input size (benchmarks/stages/throughput.py).

    Defaults follow timm's benchmark CLI and metric-conventions.md §2.11 (MLPerf-style
    single-stream latency at batch 1, offline throughput at the largest batch that fits).
    """

    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"method": MISSING}])
    method: Any = MISSING  # filled by the group `method=<id>`
    device: str = "auto"  # "auto" = cuda when available, else cpu
    dtype: str = "float32"  # float32, or bfloat16/float16 under torch.autocast
    size: int = 0  # square input side in pixels; 0 = the method's image_size
    warmup: int = 10  # timm benchmark.py default warm-up iterations (excluded from timings)
    iters: int = 40  # timm benchmark.py default timed iterations (batch-1 latency)
    batch_iters: int = 5  # timed iterations per batch size of the doubling sweep
    max_batch: int = 0  # doubling cap; 0 = 1024 on CUDA, 8 on CPU (CPU never runs out first)
    seed: int = 0  # seeds the synthetic input images
    paths: PathsConfig = field(default_factory=PathsConfig)


class ConfigError(ValueError):
    """A configuration that cannot be composed, with the offending key in the message."""


def _group_choice(overrides: list[str], group: str) -> str:
    for item in overrides:
        key, _, value = item.partition("=")
        if key == group:
            return value
    raise ConfigError(f"missing override {group}=<id> (for example {group}=...)")


def _open_dicts(cls: type) -> DictConfig:
    """``cls`` as a config node whose dict-valued fields (e.g. ``label_names``) accept new keys
    from an override such as ``dataset.label_names={liver:5}``: struct mode would refuse every
    key of an empty dict. The dataclass's own fields stay strict (a misspelled key is an error)."""
    node = OmegaConf.structured(cls)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            OmegaConf.set_struct(child, False)
    return node


def _register(overrides: list[str], with_method: bool) -> None:
    store = ConfigStore.instance()
    store.store(name="run", node=RunConfig)
    store.store(name="data", node=DataRunConfig)
    store.store(name="trained", node=TrainedRunConfig)
    store.store(name="throughput", node=ThroughputConfig)
    if with_method:
        method_id = _group_choice(overrides, "method")
        store.store(group="method", name=method_id, node=registry.import_method(method_id).Config)
    if not any(item.startswith("dataset=") for item in overrides):
        return  # a method-only config (throughput)
    loader_id = _group_choice(overrides, "dataset")
    store.store(group="dataset", name=loader_id,
                node=_open_dicts(registry.import_loader(loader_id).Config))


def compose_run(overrides: list[str], with_method: bool = True) -> DictConfig:
    """Compose ``RunConfig`` + method + dataset configs with ``key=value`` overrides.

    With ``with_method=False`` the primary config is :class:`DataRunConfig` (dataset only).

    Raises:
        ConfigError: naming the key when an override does not fit the structured config.
        registry.UnknownIdError: for an unknown method or dataset loader id.
    """
    if not any(item.startswith("dataset=") for item in overrides):
        _group_choice(overrides, "dataset")  # raises the "missing override" error
    _register(overrides, with_method)
    return _compose("run" if with_method else "data", overrides)


def compose_throughput(overrides: list[str]) -> DictConfig:
    """Compose ``ThroughputConfig`` + the method's Config (no dataset) with overrides."""
    _register(overrides, with_method=True)
    return _compose("throughput", overrides)


# one override key: dotted identifiers (Hydra's grammar rejects `method.2x` with a parse error)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# the method fields every trainer shares, and the values they take (issue 19 items 8 and 10)
RANGES = {"max_steps": (0, False), "max_epochs": (0, False), "batch_size": (1, False),
          "lr": (0, True)}  # name: (bound, strict): value >= bound, or > bound when strict
DEFAULT_VARIANTS = ("base", "tiny")  # a method module without VARIANTS (its Config comment)


def check_overrides(overrides: list[str]) -> None:
    """Refuse what Hydra would add silently or reject with a parse traceback: ``+key=`` (a new
    key: ``+method.max_step=300`` trained with the default budget), ``~key`` (a deletion) and a
    key that is not dotted identifiers, each named."""
    for item in overrides:
        key = item.partition("=")[0]
        if key.startswith(("+", "~")):
            raise ConfigError(f"override {item!r}: adding or deleting keys ({key[0]}) is "
                              f"refused; {key.lstrip('+~')} must be a key of the config "
                              "(a misspelled key is named when written without the prefix)")
        if not _KEY.match(key):
            raise ConfigError(f"override {item!r}: the key {key!r} is not dotted names of "
                              "letters, digits and '_' that start with a letter or '_'")


def check_method(cfg: DictConfig, module: Any, trains: bool) -> None:
    """The shared method fields in range (steps and epochs >= 0, batch_size >= 1, lr > 0 for a
    method that trains: a zero-shot card's lr is 0) and ``variant`` one of the module's
    ``VARIANTS``; a ``ConfigError`` names the key and the range."""
    for key, (bound, strict) in RANGES.items():
        value = cfg.method.get(key) if trains or key != "lr" else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                value <= bound if strict else value < bound):
            raise ConfigError(f"method.{key}={value}: must be {'>' if strict else '>='} {bound}")
    variants = getattr(module, "VARIANTS", DEFAULT_VARIANTS)
    if "variant" in cfg.method and cfg.method.variant not in variants:
        raise ConfigError(f"method.variant={cfg.method.variant!r}: use one of {sorted(variants)}")


@functools.cache
def _parser() -> OverridesParser:
    return OverridesParser.create()


def quoted_if_needed(item: str) -> str:
    """``item`` as given when Hydra's grammar parses it, else with its value quoted: a path with
    non-ASCII letters or quotes (``dataset.root=/data/Bäder``) works through Snakemake, which
    quotes it, and must work typed by hand too (issue 19 item 14). A value that still does not
    parse is a ``ConfigError`` saying how to quote it."""
    parser = _parser()
    try:
        parser.parse_override(item)
        return item
    except HydraException as err:
        problem = err
    key, _, value = item.partition("=")
    if value[:1] not in ("[", "{", "'", '"'):  # a plain value: quote it as Snakemake does
        fixed = f"{key}='" + value.replace("'", "\\'") + "'"
        try:
            parser.parse_override(fixed)
            return fixed
        except HydraException as err:
            problem = err
    raise ConfigError(f"override {item!r} does not parse ({problem}); quote its value for "
                      f"Hydra: {key}='<value>', with \\' for a quote inside it")


def _compose(name: str, overrides: list[str]) -> DictConfig:
    check_overrides(overrides)
    overrides = [quoted_if_needed(item) for item in overrides]
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize(version_base="1.3", config_path=None):
            cfg = compose(config_name=name, overrides=overrides)
    except (ConfigCompositionException, OverrideParseException) as err:
        cause = err.__cause__ or err
        raise ConfigError(f"bad configuration override: {cause}") from err
    OmegaConf.set_struct(cfg, True)
    if name in ("run", "throughput"):  # composed with the method's Config
        method = method_id(cfg)
        trains = registry.read_card(method).get("trainer") != "none"
        check_method(cfg, registry.import_method(method), trains)
    return cfg


def compose_trained(overrides: list[str], resolved: Path) -> DictConfig:
    """The run config of a trained cell without importing its method (for ``cli evaluate``).

    ``method=<id>`` becomes ``method_id``; the ``method.*`` overrides were applied and checked
    when the cell was trained, and the method section is read back from ``resolved``.
    """
    method = _group_choice(overrides, "method")
    rest = [o for o in overrides if o.partition("=")[0].split(".")[0] != "method"]
    _register(rest, with_method=False)
    cfg = _compose("trained", [*rest, f"method_id={method}"])
    if not resolved.exists():
        raise ConfigError(f"{resolved}: the trained run's resolved config is missing; "
                          "rerun the train stage of this cell")
    OmegaConf.set_struct(cfg, False)
    cfg.method = OmegaConf.load(resolved).method
    OmegaConf.set_struct(cfg, True)
    return cfg


def method_cfg(cfg: DictConfig) -> Any:
    """The method section as its own ``Config`` dataclass instance (what method code receives)."""
    return OmegaConf.to_object(cfg.method)


def to_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML, for ``config.resolved.yaml``."""
    return OmegaConf.to_yaml(cfg, resolve=True)


def method_id(cfg: DictConfig) -> str:
    """The method id chosen by ``method=<id>`` (from the module of its Config class)."""
    if "method_id" in cfg:  # a TrainedRunConfig
        return cfg.method_id
    return OmegaConf.get_type(cfg.method).__module__.split(".")[1]


def loader_id(cfg: DictConfig) -> str:
    """The dataset loader chosen by ``dataset=<loader>``."""
    return OmegaConf.get_type(cfg.dataset).__module__.rsplit(".", 1)[1]


def dataset_config(cfg: DictConfig) -> tuple[Any, Any]:
    """The loader module and its Config, with ``root`` resolved against ``paths.data_root``."""
    loader = registry.import_loader(loader_id(cfg))
    dcfg = OmegaConf.to_object(cfg.dataset)
    root = Path(dcfg.root)
    if not root.is_absolute():
        dcfg.root = str(Path(cfg.paths.data_root) / root)
    return loader, dcfg
