"""config.yaml -> the list of grid cells, plus the cells that cannot run and why (benchopt's skip).

Pure and cheap: reads ``card.yaml`` files and dataset loader defaults, never imports torch, so
``workflow/rules/common.smk`` can call it on a login node.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.core import registry
from benchmarks.core.io import write_summary
from benchmarks.data import prompts
from benchmarks.runs.datasets import (  # noqa: F401 - re-exported: grid.* is the public name
    ORGAN_SEP,
    GridError,
    dataset_dims,
    external_skip_reason,
    organ_datasets,
    train_sources,
)

RUN_ROOT = "results/runs"
CELL_PATTERN = (
    "dataset={dataset}/method={method}/backbone={backbone}/prompt={prompt}/fold={fold}/seed={seed}"
)
_CELL_RE = re.compile(
    r"dataset=(?P<dataset>[a-z0-9_]+)/method=(?P<method>[a-z0-9_]+)/"
    r"backbone=(?P<backbone>[a-z0-9_]+)/prompt=(?P<prompt>[a-z0-9_]+)/"
    r"fold=(?P<fold>\d+)/seed=(?P<seed>\d+)"
)
PROMPTS_PATTERN = "results/prompts/dataset={dataset}/protocol={protocol}/seed={seed}/prompts.json"
NO_PROMPT = prompts.NO_PROMPT  # the prompt axis value of unprompted methods
DEFAULT_PROMPTS = ["box"]  # config.yaml `prompts:` when absent (box with 0-20 px jitter)


@dataclass(frozen=True, order=True)
class Run:
    """One grid cell; its Hive-style path is its identity."""

    dataset: str
    method: str
    backbone: str
    fold: int
    seed: int
    prompt: str = NO_PROMPT  # prompt protocol (grid axis); "none" for unprompted methods

    @property
    def path(self) -> str:
        """``dataset=…/method=…/backbone=…/fold=…/seed=…`` (relative to ``results/runs``)."""
        return CELL_PATTERN.format(**self.__dict__)


def parse_path(path: str | Path) -> Run:
    """Recover the cell from any path below its folder."""
    match = _CELL_RE.search(str(path))
    if match is None:
        raise GridError(f"{path}: not a results/runs cell path ({CELL_PATTERN})")
    parts = match.groupdict()
    return Run(parts["dataset"], parts["method"], parts["backbone"],
               int(parts["fold"]), int(parts["seed"]), parts["prompt"])


def trained_run(run: Run, sources: dict[str, str]) -> Run:
    """The cell whose model ``run`` uses: itself, or for an external test set the same cell of its
    ``train_from`` dataset (``sources``: :func:`train_sources`)."""
    return replace(run, dataset=sources.get(run.dataset, run.dataset))


def skip_reason(config: dict[str, Any], run: Run,
                sources: dict[str, str] | None = None) -> str | None:
    """Why a cell cannot run, or ``None``. ``sources``: :func:`train_sources` of the config (an
    external test set's cell runs only where its training cell does)."""
    source = (sources or {}).get(run.dataset)
    if source is not None:
        own = skip_reason(config, run)
        return own or external_skip_reason(run.method, source,
                                           skip_reason(config, replace(run, dataset=source)))
    card = registry.read_card(run.method)
    dims = dataset_dims(config, run.dataset)
    if dims not in card.get("dims", ["2d"]):
        hint = " (its card does not declare slice-by-slice volumes)" if dims == "3d" else ""
        return f"{run.method} supports {card.get('dims')} only; {run.dataset} is {dims}{hint}"
    if run.prompt != NO_PROMPT:
        protocol = prompts.parse_protocol(run.prompt)
        kind = "box" if protocol.box else "point"
        takes = card.get("prompt", "none")
        if takes != kind:
            return f"{run.method} takes {takes} prompts; {run.prompt} is a {kind} protocol"
        return prompts.check_dims(protocol, dims) or interactive_skip(card, run, protocol, dims)
    return None


def interactive_skip(card: dict[str, Any], run: Run, protocol: prompts.Protocol,
                     dims: str) -> str | None:
    """Why a method cannot run an interactive (click) protocol, or ``None``."""
    if not protocol.clicks:
        return None
    if not card.get("interactive", False):
        return (f"{run.method}'s card does not declare interactive: true (clicks and its own "
                f"previous mask, methods/_api.py); {run.prompt} needs it")
    if dims == "3d" and card.get("volumes") == "patches":
        return (f"{run.method} is a native 3D patch method; {run.prompt} on volumes is run "
                "slice-wise only (no interactive patch method exists yet)")
    return None


def method_prompts(config: dict[str, Any], method_id: str) -> list[str]:
    """The prompt axis of one method: ``["none"]``, or config.yaml's ``prompts`` list."""
    if registry.read_card(method_id).get("prompt", "none") == "none":
        return [NO_PROMPT]
    return [str(p) for p in config.get("prompts") or DEFAULT_PROMPTS]


def prompts_path(run: Run) -> str:
    """The pinned prompts file a prompted cell reads (rule ``make_prompts`` writes it)."""
    return PROMPTS_PATTERN.format(dataset=run.dataset, protocol=run.prompt, seed=run.seed)


def _check_ids(config: dict[str, Any]) -> None:
    methods, loaders = registry.list_methods(), registry.list_loaders()
    for method_id, entry in config["methods"].items():
        if method_id not in methods:
            raise GridError(f"config.yaml methods: unknown method {method_id!r}; known: {methods}")
        known = registry.read_card(method_id).get("backbones", [])
        for backbone in (entry or {}).get("backbones", []):
            if str(backbone) not in known:
                card = registry.method_card_path(method_id)
                raise GridError(f"config.yaml methods.{method_id}.backbones: unknown backbone "
                                f"{backbone!r}; {card} lists {known}")
    for dataset_id, entry in config["datasets"].items():
        loader = (entry or {}).get("loader", dataset_id)
        if loader not in loaders:
            raise GridError(f"config.yaml datasets.{dataset_id}.loader: unknown loader "
                            f"{loader!r}; known: {loaders}")


def expand(config: dict[str, Any]) -> tuple[list[Run], list[tuple[Run, str]]]:
    """All cells of the grid, split into runnable ones and skipped ones with their reason."""
    config = {**config, "datasets": organ_datasets(config["datasets"])}
    _check_ids(config)
    sources = train_sources(config)
    runs, skipped = [], []
    for dataset_id in config["datasets"]:
        for method_id, entry in config["methods"].items():
            card_default = registry.read_card(method_id)["backbones"][:1]
            backbones = (entry or {}).get("backbones") or card_default
            axes = itertools.product(backbones, method_prompts(config, method_id),
                                     config.get("folds", [0]), config.get("seeds", [0]))
            for backbone, prompt, fold, seed in axes:
                run = Run(dataset_id, method_id, str(backbone), int(fold), int(seed), prompt)
                reason = skip_reason(config, run, sources)
                (runs.append(run) if reason is None else skipped.append((run, reason)))
    return sorted(runs), sorted(skipped)


CELL_COLUMNS = ["dataset", "method", "backbone", "prompt", "fold", "seed"]


def _write_if_changed(path: str | Path, table: pd.DataFrame) -> None:
    """Write a TSV only when its content changes (keeps mtimes, hence Snakemake's plan, stable)."""
    path = Path(path)
    if path.exists() and path.read_text() == table.to_csv(sep="\t", index=False):
        return
    write_summary(path, table)  # and a Parquet copy beside it


def write_skipped(skipped: list[tuple[Run, str]], path: str | Path) -> None:
    """Write skipped cells and their reasons to a TSV."""
    _write_if_changed(path, pd.DataFrame([{**run.__dict__, "reason": reason}
                                          for run, reason in skipped],
                                         columns=[*CELL_COLUMNS, "reason"]))


def read_cells(path: str | Path) -> list[str]:
    """The cell paths (``dataset=…/…/seed=…``) listed in ``cells.tsv``."""
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return [CELL_PATTERN.format(**row) for row in table.to_dict("records")]


def write_cells(runs: list[Run], path: str | Path) -> None:
    """Write the runnable cells to a TSV: the aggregate's list of inputs (no command line)."""
    _write_if_changed(path, pd.DataFrame([run.__dict__ for run in runs], columns=CELL_COLUMNS))


def hydra_value(value: object) -> str:
    """Quote a value for Hydra's override grammar when it holds characters such as '='."""
    text = str(value)
    return text if re.fullmatch(r"[A-Za-z0-9_./-]*", text) else "'" + text.replace("'", "\\'") + "'"


def dataset_overrides(config: dict[str, Any], dataset_id: str) -> list[str]:
    """Hydra overrides that select and configure one dataset (enough for `cli split`)."""
    dataset = config["datasets"][dataset_id] or {}
    items = [f"dataset={dataset.get('loader', dataset_id)}", f"dataset_id={dataset_id}"]
    if "root" in dataset:
        items.append(f"dataset.root={hydra_value(dataset['root'])}")
    for key, value in sorted((config.get("paths") or {}).items()):  # meaning, not key order
        items.append(f"paths.{key}={hydra_value(value)}")
    if dataset.get("train_from"):  # an external test set: every case is test (its split says so)
        items.append(f"train_from={train_sources(config)[dataset_id]}")
    return items + list(dataset.get("overrides", []))


def cell_overrides(run: Run) -> list[str]:
    """The overrides that only one cell has: method id, backbone, fold, seed, prompt."""
    cell = [f"method={run.method}", f"method.backbone={run.backbone}",
            f"fold={run.fold}", f"seed={run.seed}", f"prompt={run.prompt}"]
    if run.prompt != NO_PROMPT:
        cell.append(f"prompts_file={hydra_value(prompts_path(run))}")
    return cell


def shared_overrides(config: dict[str, Any], dataset_id: str, method_id: str) -> list[str]:
    """The overrides every cell of a (dataset, method) pair shares: config.yaml's own."""
    method = config["methods"][method_id] or {}
    return dataset_overrides(config, dataset_id) + list(method.get("overrides", []))


def overrides_for(config: dict[str, Any], run: Run) -> list[str]:
    """The Hydra overrides of one cell: ids, wildcards, then config.yaml's own overrides."""
    return cell_overrides(run) + shared_overrides(config, run.dataset, run.method)


def provenance_line(config: dict[str, Any], configfiles: list[str] | tuple[str, ...]) -> str:
    """Which file the grid came from, what it holds and where its results go (printed first by
    the Snakefile: a Snakefile run from another folder plans and writes there)."""
    source = ", ".join(map(str, configfiles)) or "config.yaml"
    note = " (replaces config.yaml)" if configfiles else ""
    return (f"grid from {source}{note}: datasets {sorted(config['datasets'])}, "
            f"methods {sorted(config['methods'])}; results in {Path.cwd() / 'results'}")


@contextmanager
def named_source(configfiles: list[str] | tuple[str, ...]) -> Iterator[None]:
    """A :class:`GridError` raised inside names the file the grid came from (a ``--configfile``)
    where its message says ``config.yaml``."""
    try:
        yield
    except GridError as err:
        source = ", ".join(map(str, configfiles))
        if not source:
            raise
        raise GridError(str(err).replace("config.yaml", source)) from err
