"""The dataset axis of the grid: multi-organ entries and external test sets (no torch).

- ``organs: [...]`` expands one entry into one binary task per organ (:func:`organ_datasets`).
- ``train_from: <id>`` makes an entry an **external test set** (:func:`train_sources`): its cells
  train nothing; they use the model of the same method/backbone/prompt/fold/seed cell of ``<id>``
  and predict and score every one of their cases. This is how a set with a single labelled volume
  (msam-demo, the TotalSegmentator example, one BraTS case) is scored without training on the
  test volume: a patient-level split of one patient has no training part.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

from benchmarks.core import registry

ORGAN_SEP = "__"  # dataset id of one organ of a multi-organ entry: <entry id>__<organ>
TRAIN_FROM = "train_from"  # config.yaml key of an external test set


class GridError(ValueError):
    """A config.yaml that names something that does not exist; the message names the key."""


def organ_datasets(datasets: dict[str, Any]) -> dict[str, Any]:
    """Expand each entry with ``organs: [...]`` into one binary task per organ (methods-spec
    3.4: Medical SAM2 tracks each organ separately): ``<id>__<organ>`` with the override
    ``dataset.organ=<organ>``, its ``organ`` and its ``parent`` id. Other entries are kept.

    One config entry stands for all organs; the expanded ids are the grid's dataset axis, so each
    organ has its own cells, rows and summary line, and the patient-level split is the same for
    every organ (the case list does not depend on the organ).
    """
    out: dict[str, Any] = {}
    for dataset_id, entry in datasets.items():
        entry = dict(entry or {})
        organs = entry.pop("organs", None)
        if not organs:
            out[dataset_id] = entry
            continue
        loader = registry.import_loader(entry.get("loader", dataset_id))
        if "organ" not in {f.name for f in fields(loader.Config)}:
            raise GridError(f"config.yaml datasets.{dataset_id}.organs: loader "
                            f"{loader.__name__} has no `organ` field (use nnunet3d or "
                            "nifti_pairs)")
        for organ in organs:
            if not re.fullmatch(r"[a-z0-9_]+", str(organ)):
                raise GridError(f"config.yaml datasets.{dataset_id}.organs: {organ!r} must be "
                                "lower-case letters, digits and _ (a path part)")
            out[f"{dataset_id}{ORGAN_SEP}{organ}"] = entry | {
                "overrides": [*entry.get("overrides", []), f"dataset.organ={organ}"],
                "organ": str(organ), "parent": dataset_id}
    return out


def dataset_dims(config: dict[str, Any], dataset_id: str) -> str:
    """'2d' or '3d': the dataset's override of ``dataset.dims``, else its loader's default."""
    entry = config["datasets"][dataset_id]
    for item in entry.get("overrides", []):
        if item.startswith("dataset.dims="):
            return item.split("=", 1)[1]
    loader = registry.import_loader(entry.get("loader", dataset_id))
    return next(f.default for f in fields(loader.Config) if f.name == "dims")


def _source_id(datasets: dict[str, Any], dataset_id: str) -> str:
    """The (organ-expanded) dataset id that ``dataset_id``'s ``train_from`` names."""
    entry = datasets[dataset_id]
    target, key = str(entry[TRAIN_FROM]), f"config.yaml datasets.{entry.get('parent', dataset_id)}"
    organ = entry.get("organ")
    if organ and f"{target}{ORGAN_SEP}{organ}" in datasets:  # organ-wise: liver from liver
        return f"{target}{ORGAN_SEP}{organ}"
    if target in datasets:
        return target
    if any(e.get("parent") == target for e in datasets.values()):
        raise GridError(f"{key}.{TRAIN_FROM}: {target} is a multi-organ entry without the organ "
                        f"{organ or '(none)'}; add it to {target}'s organs or train from a "
                        "single-task entry")
    known = sorted({e.get("parent", d) for d, e in datasets.items()})
    raise GridError(f"{key}.{TRAIN_FROM}: unknown dataset {target!r}; name the entry whose "
                    f"models this external test set uses (one of {known})")


def train_sources(config: dict[str, Any]) -> dict[str, str]:
    """External test set id -> the dataset id whose cells train its models (organ-expanded ids).

    Raises:
        GridError: naming ``datasets.<id>.train_from`` for an unknown id, a chain (the source is
        itself an external set), the set itself, or a source of other dims (2d vs 3d).
    """
    datasets = config["datasets"]
    sources = {}
    for dataset_id, entry in datasets.items():
        if not (entry or {}).get(TRAIN_FROM):
            continue
        source, key = _source_id(datasets, dataset_id), f"config.yaml datasets.{dataset_id}"
        if source == dataset_id:
            raise GridError(f"{key}.{TRAIN_FROM}: a set cannot train its own test models (a "
                            "train/test leak); name another dataset entry")
        if (datasets[source] or {}).get(TRAIN_FROM):
            raise GridError(f"{key}.{TRAIN_FROM}: {source} is itself an external test set "
                            f"({TRAIN_FROM}: {datasets[source][TRAIN_FROM]}); point "
                            f"{TRAIN_FROM} to the dataset where the models are trained")
        dims, source_dims = dataset_dims(config, dataset_id), dataset_dims(config, source)
        if dims != source_dims:
            raise GridError(f"{key}.{TRAIN_FROM}: {dataset_id} is {dims} but {source} is "
                            f"{source_dims}; train from a {dims} dataset")
        sources[dataset_id] = source
    return sources


def external_skip_reason(method_id: str, source: str, source_reason: str | None) -> str | None:
    """Why a method's cell on an external test set cannot run (its source cell cannot, or the
    method has several phases, whose earlier rows are not mapped to external sets)."""
    if source_reason is not None:
        return f"external test set trained on {source}, where: {source_reason}"
    if registry.read_card(method_id).get("phases"):
        return (f"{method_id} has several training phases; external test sets "
                f"({TRAIN_FROM}) run single-phase methods only")
    return None
