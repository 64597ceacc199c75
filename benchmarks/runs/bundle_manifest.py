"""What a results bundle holds and what its manifest says (``bundle export``/``import``).

A bundle carries the finished cells of one results tree: each cell's files below ``runs/``
(metrics, per-case statuses, predictions, provenance, resolved config; model weights only when
asked), its status records, benchmark files and logs; the split and prompt files and records of
the cells' datasets; the throughput files of their method x backbone pairs; and the site's
``skipped.tsv``. The manifest names, per cell, the site that made it, when it finished, the git
commit, the sha256 of its resolved config, container and weights; per dataset the split and
prompt files' sha256, a fingerprint of the data folder and the metric protocol; and the sha256
and size of every file, so that an import can check what must be equal before merging.
Torch-free.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from benchmarks.runs import grid

FORMAT_VERSION = 1  # bump on any change an older importer would misread
# The protocol of the metric definitions (scoring.metrics): bump when a definition changes, so
# that results scored under different definitions are never merged into one table.
METRIC_DEFINITIONS_VERSION = 1
PROTOCOL_COLUMNS = ("hd95_definition", "empty_policy", "nsd_tolerance", "threshold",
                    "distance_unit")
WEIGHT_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors")
SITES = "bundles/sites.csv"  # cell -> site that produced it (below the results root)
SKIPPED = "summary/skipped.tsv"
PROBE = 20  # cells of a dataset read for its protocol and data folder (external sets have none)


class BundleError(ValueError):
    """A bundle that cannot be written or merged; the message names the file and the fix."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files_under(root: Path, rel: str, keep=lambda p: True) -> list[str]:
    base = root / rel
    if not base.is_dir():
        return []
    out = []
    for dirpath, _, names in os.walk(base):
        for name in names:
            path = Path(dirpath) / name
            if keep(path):
                out.append(path.relative_to(root).as_posix())
    return sorted(out)


def finished_cells(results: Path) -> list[str]:
    """Cells of ``results`` whose evaluate stage wrote its metrics."""
    found = results.glob("runs/dataset=*/method=*/backbone=*/prompt=*/fold=*/seed=*/evaluate/"
                         "metrics.csv")
    return sorted(p.parent.parent.relative_to(results / "runs").as_posix() for p in found)


def cell_files(results: Path, cell: str, with_weights: bool = False) -> list[str]:
    """Every file of one cell, relative to ``results`` (no locks; weights only when asked)."""
    def keep(path: Path) -> bool:
        return with_weights or path.suffix not in WEIGHT_SUFFIXES

    files = _files_under(results, f"runs/{cell}", keep)
    files += _files_under(results, f"status/{cell}", lambda p: p.suffix == ".json")
    files += _files_under(results, f"benchmarks/{cell}")
    return files + _files_under(results, f"logs/{cell}")


def dataset_files(results: Path, dataset: str) -> list[str]:
    """The split and prompt files of one dataset and their status records."""
    files = _files_under(results, f"splits/dataset={dataset}")
    files += _files_under(results, f"prompts/dataset={dataset}")
    record = results / "status" / f"dataset={dataset}" / "split.json"
    files += [record.relative_to(results).as_posix()] if record.exists() else []
    for path in sorted((results / "status" / f"dataset={dataset}").glob("protocol=*")):
        files += _files_under(results, path.relative_to(results).as_posix(),
                              lambda p: p.suffix == ".json")
    return files


def throughput_files(results: Path, pairs: set[tuple[str, str]]) -> list[str]:
    return [f for method, backbone in sorted(pairs)
            for f in _files_under(results, f"throughput/method={method}/backbone={backbone}")]


def data_fingerprint(root: str | Path) -> str:
    """sha256 of the sorted (relative path, size) list of the files under a dataset folder: cheap
    at any data size, and different when a case is added, dropped or rewritten to another size;
    '' when the folder is not on this machine."""
    root = Path(root)
    if not root.is_dir():
        return ""
    listing = sorted((p.relative_to(root).as_posix(), p.stat().st_size)
                     for p in root.rglob("*") if p.is_file())
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def cell_entry(results: Path, cell: str, site: str) -> dict[str, Any]:
    """The manifest entry of one finished cell (missing provenance leaves fields empty: an
    external test set's cell uses another cell's training)."""
    run = results / "runs" / cell
    prov = _json(run / "train" / "provenance.json")
    resolved = run / "train" / "config.resolved.yaml"
    done = _json(results / "status" / cell / "evaluate.json")
    container = prov.get("container") or {}
    return {"site": site, "finished": done.get("time") or (run / "evaluate" / "metrics.csv")
            .stat().st_mtime,
            "metrics_sha256": sha256_file(run / "evaluate" / "metrics.csv"),
            "git_sha": prov.get("git_sha", ""), "git_dirty": prov.get("git_dirty"),
            "config_sha256": sha256_file(resolved) if resolved.exists() else "",
            "container_sha256": container.get("sha256", ""), "weights": prov.get("weights", ""),
            "split_sha256": prov.get("split_sha256", ""),
            "prompts_sha256": prov.get("prompts_sha256") or ""}


def dataset_entry(results: Path, dataset: str, cells: list[str]) -> dict[str, Any]:
    """Split and prompts sha256, data fingerprint and metric protocol of one dataset."""
    split = results / "splits" / f"dataset={dataset}" / "split.json"
    prompts = {f: sha256_file(results / f) for f in _files_under(results, f"prompts/dataset="
                                                                         f"{dataset}")}
    protocol: dict[str, str] = {}
    root = ""
    for cell in cells[:PROBE]:  # every cell of a dataset scores under one protocol (evaluate)
        table = pd.read_csv(results / "runs" / cell / "evaluate" / "metrics.csv", nrows=1,
                            dtype=str, keep_default_na=False)
        protocol = protocol or {c: table[c].iloc[0] for c in PROTOCOL_COLUMNS
                                if c in table and len(table)}
        resolved = results / "runs" / cell / "train" / "config.resolved.yaml"
        if resolved.exists() and not root:
            root = str((yaml.safe_load(resolved.read_text()).get("dataset") or {})
                       .get("root", ""))
        if protocol and root:
            break
    # a relative root is relative to the folder that holds results/ (the run's working folder)
    where = Path(root) if Path(root).is_absolute() else results.parent / root
    return {"split_sha256": sha256_file(split) if split.exists() else "",
            "prompts_sha256": prompts, "data_root": root,
            "data_fingerprint": data_fingerprint(where) if root else "",
            "metric_protocol": protocol}


def sites(results: Path) -> dict[str, str]:
    """Cell -> site of the cells this tree got from bundles (others were made here)."""
    path = results / SITES
    if not path.exists():
        return {}
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return dict(zip(table["cell"], table["site"], strict=True))


def build(results: Path, cells: list[str], site: str, with_weights: bool,
          suite_version: str) -> tuple[dict[str, Any], list[str]]:
    """The manifest (without the file list) and the files of ``cells`` of ``results``."""
    known = sites(results)
    by_dataset: dict[str, list[str]] = {}
    for cell in cells:
        by_dataset.setdefault(grid.parse_path(cell).dataset, []).append(cell)
    files = [f for cell in cells for f in cell_files(results, cell, with_weights)]
    files += [f for dataset in sorted(by_dataset) for f in dataset_files(results, dataset)]
    pairs = {(grid.parse_path(c).method, grid.parse_path(c).backbone) for c in cells}
    files += throughput_files(results, pairs)
    files += [SKIPPED] if (results / SKIPPED).exists() else []
    manifest = {
        "format_version": FORMAT_VERSION, "suite_version": suite_version, "site": site,
        "metric_definitions_version": METRIC_DEFINITIONS_VERSION, "with_weights": with_weights,
        "cells": {c: cell_entry(results, c, known.get(c, site)) for c in cells},
        "datasets": {d: dataset_entry(results, d, cs) for d, cs in sorted(by_dataset.items())}}
    return manifest, files
