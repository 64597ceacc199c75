"""Merge bundles into a results tree: check what must be equal, resolve duplicate cells, plan.

What must be equal for two results to sit in one table, per dataset both sides have: the split
file, each prompts file, the data fingerprint (when both sides saw the data) and the metric
protocol; and the metric definitions version. These conflicts are never resolved: both sides
must be rerun on one protocol. A cell (or throughput file) present on both sides with different
contents is a duplicate: ``prefer`` (newer | mine | theirs) picks one, else it is a conflict.
Every conflict is named; nothing is planned until there are none. Torch-free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.runs import bundle_manifest as bm

PREFER = ("newer", "mine", "theirs")
HERE = "results/ (this folder)"


@dataclass
class Side:
    """What one side holds, as far as the checks need: cells, datasets, throughput files."""

    name: str
    cells: dict[str, dict[str, Any]]
    datasets: dict[str, dict[str, Any]]
    throughput: dict[str, str]  # relative path -> sha256
    definitions: int | None


@dataclass
class Plan:
    """Files to put (relative path -> source file) and to remove, and the cells taken (cell ->
    the site and bundle they came from)."""

    put: dict[str, Path] = field(default_factory=dict)
    remove: set[str] = field(default_factory=set)
    cell_puts: dict[str, list[str]] = field(default_factory=dict)  # cell -> its files in put
    shas: dict[str, str] = field(default_factory=dict)  # of throughput files put (a later
    times: dict[str, float] = field(default_factory=dict)  # bundle compares with those)
    taken: dict[str, dict[str, str]] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    skipped_tables: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def current(results: Path, datasets: set[str]) -> Side:
    """This folder's side: its finished cells, the given datasets, its throughput files."""
    cells = bm.finished_cells(results)
    here = bm.sites(results)
    entries = {c: {"lazy": True, "site": here.get(c, "")} for c in cells}
    by_dataset = {d: [c for c in cells if c.startswith(f"dataset={d}/")] for d in datasets}
    present = {d: bm.dataset_entry(results, d, cs) for d, cs in by_dataset.items()
               if (results / "splits" / f"dataset={d}").exists() or cs}
    throughput = {f: bm.sha256_file(results / f) for f in
                  bm._files_under(results, "throughput")}
    return Side(HERE, entries, present, throughput,
                bm.METRIC_DEFINITIONS_VERSION if cells else None)


def _cell(results: Path, side: Side, cell: str) -> dict[str, Any]:
    entry = side.cells[cell]
    if entry.get("lazy"):  # this folder's cells are described only when a bundle has them too
        entry = bm.cell_entry(results, cell, entry["site"] or "here")
        side.cells[cell] = entry
    return entry


def _short(sha: str) -> str:
    return sha[:12] if sha else "(none)"


def check_datasets(mine: Side, theirs: Side) -> list[str]:
    """Conflicts on what must be equal: split, prompts, data, metric protocol, definitions."""
    out = []
    if None not in (mine.definitions, theirs.definitions) and mine.definitions != \
            theirs.definitions:
        out.append(f"metric definitions version: {mine.definitions} in {mine.name}, "
                   f"{theirs.definitions} in {theirs.name}; rescore one side with the other's "
                   "checkout")
    for dataset in sorted(set(mine.datasets) & set(theirs.datasets)):
        a, b = mine.datasets[dataset], theirs.datasets[dataset]
        if a["split_sha256"] and b["split_sha256"] and a["split_sha256"] != b["split_sha256"]:
            out.append(f"split of dataset {dataset}: sha256 {_short(a['split_sha256'])} in "
                       f"{mine.name}, {_short(b['split_sha256'])} in {theirs.name} (different "
                       "test cases); run both sides on one results/splits file")
        for rel in sorted(set(a["prompts_sha256"]) & set(b["prompts_sha256"])):
            if a["prompts_sha256"][rel] != b["prompts_sha256"][rel]:
                out.append(f"prompts file {rel}: sha256 {_short(a['prompts_sha256'][rel])} in "
                           f"{mine.name}, {_short(b['prompts_sha256'][rel])} in {theirs.name}")
        if a["data_fingerprint"] and b["data_fingerprint"] and \
                a["data_fingerprint"] != b["data_fingerprint"]:
            out.append(f"data of dataset {dataset}: fingerprint {_short(a['data_fingerprint'])} "
                       f"({a['data_root']}) in {mine.name}, {_short(b['data_fingerprint'])} "
                       f"({b['data_root']}) in {theirs.name}: the files differ in names or sizes")
        for key in sorted(set(a["metric_protocol"]) & set(b["metric_protocol"])):
            if a["metric_protocol"][key] != b["metric_protocol"][key]:
                out.append(f"metric protocol of dataset {dataset}: {key} = "
                           f"{a['metric_protocol'][key]} in {mine.name}, "
                           f"{b['metric_protocol'][key]} in {theirs.name}")
    return out


def _stamp(entry: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(entry["finished"])))
    return f"finished {when} UTC at site {entry['site']}"


def resolve(a: dict[str, Any], b: dict[str, Any], prefer: str | None) -> str | None:
    """'mine', 'theirs', or None (unresolved) for a cell both sides hold with other metrics."""
    if prefer in ("mine", "theirs"):
        return prefer
    if prefer == "newer" and float(a["finished"]) != float(b["finished"]):
        return "mine" if float(a["finished"]) > float(b["finished"]) else "theirs"
    return None


def _cell_of(rel: str, cells: dict[str, Any]) -> str | None:
    """The cell a bundle file belongs to (``runs|status|benchmarks|logs/<cell>/...``), or None."""
    parts = rel.split("/")
    cell = "/".join(parts[1:7])
    return cell if parts[0] in ("runs", "status", "benchmarks", "logs") and cell in cells \
        else None


def _present(results: Path, plan: Plan, rel: str) -> bool:
    return (rel in plan.put or (results / rel).exists()) and rel not in plan.remove


def _take_cell(results: Path, plan: Plan, cell: str, files: list[str],
               staged: dict[str, Path]) -> None:
    """Theirs replaces whatever this folder or an earlier bundle holds of the cell."""
    theirs = set(files)
    old = set(bm.cell_files(results, cell, with_weights=True)) | set(
        plan.cell_puts.get(cell, []))  # this folder's files and an earlier bundle's
    for rel in old - theirs:
        plan.put.pop(rel, None)
        if (results / rel).exists():
            plan.remove.add(rel)
    for rel in files:
        plan.remove.discard(rel)
        plan.put[rel] = staged[rel]
    plan.cell_puts[cell] = list(files)


def _duplicate(results: Path, mine: Side, cell: str, b: dict[str, Any], prefer: str | None,
               theirs_name: str, plan: Plan) -> bool:
    """Whether theirs takes a cell this side holds too (a conflict is recorded when unresolved)."""
    a = _cell(results, mine, cell)
    if a["metrics_sha256"] == b["metrics_sha256"]:
        return False  # the same result twice (a re-export): keep the copy here
    choice = resolve(a, b, prefer)
    if choice is None:
        plan.conflicts.append(
            f"cell {cell}: different metrics in {mine.name} ({_stamp(a)}) and in {theirs_name} "
            f"({_stamp(b)}); choose with --prefer newer|mine|theirs")
        return False
    plan.notes.append(f"cell {cell}: kept {'this folder' if choice == 'mine' else theirs_name}'s "
                      f"result (--prefer {prefer})")
    return choice == "theirs"


def _shared_file(results: Path, plan: Plan, rel: str, want: dict[str, Any],
                 staged: dict[str, Path],
                 theirs: Side, created: float, prefer: str | None) -> None:
    """A dataset or throughput file: taken when absent here; a throughput file that differs is
    a duplicate (its measurements were made elsewhere), resolved like a cell."""
    if not _present(results, plan, rel):
        plan.put[rel] = staged[rel]
        return
    if not rel.startswith("throughput/"):
        return  # split/prompt contents were compared; their records differ only in times
    here = plan.put.get(rel, results / rel)
    if (plan.shas.get(rel) or bm.sha256_file(here)) == want["sha256"]:
        return
    if prefer == "newer":
        choice = "theirs" if created > plan.times.get(rel, here.stat().st_mtime) else "mine"
    else:
        choice = prefer
    if choice is None:
        plan.conflicts.append(f"throughput file {rel}: different measurements in {HERE} and "
                              f"in {theirs.name}; choose with --prefer newer|mine|theirs")
    elif choice == "theirs":
        plan.put[rel] = staged[rel]
        plan.shas[rel], plan.times[rel] = want["sha256"], created  # not unpacked yet


def add_bundle(results: Path, mine: Side, plan: Plan, bundle: Path, manifest: dict[str, Any],
               staged: dict[str, Path], prefer: str | None) -> None:
    """Check one bundle's manifest against this side (and the bundles before it) and plan it;
    ``staged``: where each of its files will be unpacked."""
    listed: dict[str, dict[str, Any]] = manifest["files"]
    theirs = Side(bundle.name, manifest["cells"], manifest["datasets"],
                  {f: m["sha256"] for f, m in listed.items() if f.startswith("throughput/")},
                  manifest.get("metric_definitions_version"))
    plan.conflicts += check_datasets(mine, theirs)
    by_cell: dict[str, list[str]] = {cell: [] for cell in theirs.cells}
    for rel in listed:
        cell = _cell_of(rel, theirs.cells)
        if cell is not None:
            by_cell[cell].append(rel)
        elif rel == bm.SKIPPED:
            plan.skipped_tables.append(staged[rel])
        else:
            _shared_file(results, plan, rel, listed[rel], staged, theirs,
                         float(manifest.get("created", 0)), prefer)
    for cell, entry in theirs.cells.items():
        if cell in mine.cells and not _duplicate(results, mine, cell, entry, prefer,
                                                 theirs.name, plan):
            continue
        _take_cell(results, plan, cell, by_cell[cell], staged)
        mine.cells[cell] = entry
        plan.taken[cell] = {"site": entry["site"], "bundle": bundle.name}
    for dataset, entry in theirs.datasets.items():
        mine.datasets.setdefault(dataset, entry)
    if mine.definitions is None:
        mine.definitions = theirs.definitions
