"""``bundle export`` / ``bundle import``: results from several clusters merged into one grid.

Export packs the finished cells of a results tree (``runs.bundle_manifest`` says what) into one
``.tar.gz`` with a manifest; import checks each bundle against this tree and the bundles before
it (``runs.bundle_merge``), refuses naming every conflict, and applies all bundles as one step
(``runs.bundle_apply``): the cell list, the skipped table and the ledger of which site made each
cell (``results/bundles/sites.csv``, shown in the report's provenance section) are merged too,
so that ``aggregate`` and ``report`` see one grid (``--report`` runs them).
"""

from __future__ import annotations

import fnmatch
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

from benchmarks.core.io import write_json, write_summary
from benchmarks.runs import bundle_apply, bundle_archive, bundle_merge, cell_lock, grid
from benchmarks.runs import bundle_manifest as bm

CELLS = "summary/cells.tsv"
LOCK = ".bundle-import.lock"  # beside the work folder, which recover() removes


def suite_version() -> str:
    try:
        return metadata.version("samseg-bench")
    except metadata.PackageNotFoundError:  # a checkout that is not pip-installed
        return "0.1.0 (pyproject)"


def select(results: Path, patterns: list[str] | None) -> list[str]:
    """Finished cells, all or those matching a pattern (``dataset=busbra/*``) or listed in a
    cells.tsv file given as a pattern."""
    cells = bm.finished_cells(results)
    if not patterns:
        return cells
    wanted: set[str] = set()
    for pattern in patterns:
        if Path(pattern).is_file():
            wanted |= set(grid.read_cells(pattern)) & set(cells)
        else:
            wanted |= set(fnmatch.filter(cells, pattern))
    return sorted(wanted)


def export(results: Path, out: Path, patterns: list[str] | None, site: str,
           with_weights: bool = False) -> dict:
    """Write the bundle of the selected finished cells; return its manifest."""
    cells = select(results, patterns)
    if not cells:
        raise bm.BundleError(f"{results}: no finished cell (evaluate/metrics.csv) matches "
                             f"{patterns or 'any cell'}; nothing to export")
    manifest, files = bm.build(results, cells, site, with_weights, suite_version())
    return bundle_archive.write(out, results, manifest, files)


def _cells(results: Path, plan: bundle_merge.Plan) -> list[grid.Run]:
    """This tree's cell list, then the imported cells it did not list."""
    known = grid.read_cells(results / CELLS) if (results / CELLS).exists() else []
    return [grid.parse_path(c) for c in dict.fromkeys([*known, *sorted(plan.taken)])]


def _final_tables(results: Path, plan: bundle_merge.Plan, manifests: dict[str, dict],
                  staging: Path) -> None:
    """Stage the merged cell list, skipped table, site ledger and the bundles' manifests."""
    out = staging / "_merged"
    out.mkdir(parents=True, exist_ok=True)
    grid.write_cells(_cells(results, plan), out / "cells.tsv")  # with its Parquet copy
    plan.put[CELLS] = out / "cells.tsv"
    plan.put[CELLS.replace(".tsv", ".parquet")] = out / "cells.parquet"
    skipped = [pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False)
               for p in [results / bm.SKIPPED, *plan.skipped_tables] if p.exists()]
    if skipped:
        table = pd.concat(skipped, ignore_index=True).drop_duplicates(grid.CELL_COLUMNS)
        write_summary(out / "skipped.tsv", table)
        plan.put[bm.SKIPPED] = out / "skipped.tsv"
        plan.put[bm.SKIPPED.replace(".tsv", ".parquet")] = out / "skipped.parquet"
    old = pd.read_csv(results / bm.SITES, dtype=str, keep_default_na=False) \
        if (results / bm.SITES).exists() else pd.DataFrame(columns=["cell", "site", "bundle"])
    new = pd.DataFrame([{"cell": c, **v} for c, v in sorted(plan.taken.items())],
                       columns=["cell", "site", "bundle"])
    sites = pd.concat([old[~old["cell"].isin(new["cell"])], new], ignore_index=True)
    sites.to_csv(out / "sites.csv", index=False)
    plan.put[bm.SITES] = out / "sites.csv"
    for name, manifest in manifests.items():
        write_json(out / f"{name}.manifest.json", manifest)
        plan.put[f"bundles/{name}.manifest.json"] = out / f"{name}.manifest.json"


def import_bundles(results: Path, bundles: list[Path], prefer: str | None,
                   before_each=None) -> bundle_merge.Plan:
    """Merge ``bundles`` into ``results`` all or nothing; raise :class:`BundleError` naming
    every conflict (and change nothing) when they cannot be merged."""
    results.mkdir(parents=True, exist_ok=True)
    # one import at a time: a second would roll the first back as if it had been killed
    with cell_lock.held(results / LOCK):
        return _import_locked(results, bundles, prefer, before_each)


def _import_locked(results: Path, bundles: list[Path], prefer: str | None,
                   before_each) -> bundle_merge.Plan:
    note = bundle_apply.recover(results)
    staging = bundle_apply.work_dir(results) / "staging"
    try:
        manifests = [(b, bundle_archive.read_manifest(b)) for b in bundles]
        where = [bundle_archive.staged_paths(m, staging / str(i))
                 for i, (_, m) in enumerate(manifests)]
        datasets = {d for _, m in manifests for d in m["datasets"]}
        mine, plan = bundle_merge.current(results, datasets), bundle_merge.Plan()
        plan.notes += [note] if note else []
        for (bundle, manifest), staged in zip(manifests, where, strict=True):
            bundle_merge.add_bundle(results, mine, plan, bundle, manifest, staged, prefer)
        if plan.conflicts:
            lines = "\n".join(f"  - {c}" for c in plan.conflicts)
            raise bm.BundleError(f"bundle import refused, {len(plan.conflicts)} conflict(s); "
                                 f"{results} is unchanged:\n{lines}")
        needed = {*plan.put.values(), *plan.skipped_tables}
        for i, ((bundle, _), staged) in enumerate(zip(manifests, where, strict=True)):
            # every member is read and checked; only what the plan takes is written
            bundle_archive.extract(bundle, staging / str(i),
                                   {rel for rel, path in staged.items() if path in needed})
        stem = time.strftime("%Y%m%dT%H%M%S")
        _final_tables(results, plan, {f"{stem}-{b.name.split('.')[0]}": m
                                      for b, m in manifests}, staging)
        bundle_apply.apply(results, plan.put, plan.remove, before_each)
    except BaseException:
        if not (bundle_apply.work_dir(results) / bundle_apply.JOURNAL).exists():
            bundle_apply.recover(results)  # only staging to clear: nothing was applied
        raise
    return plan


def refresh_report(results: Path) -> Path:
    """Aggregate the merged tree and render its report (what the Snakefile's last rules do)."""
    from benchmarks.report import provenance_table
    from benchmarks.runs import throughput_plan
    from benchmarks.stages import aggregate, report

    summary = results / "summary"
    aggregate.run(results / CELLS, results, summary)
    write_summary(summary / "provenance.csv",
                  provenance_table.collect(results / CELLS, results, summary / ".cache"))
    files = sorted(str(p) for p in results.glob("throughput/method=*/backbone=*/size=*/"
                                                 "throughput.csv"))
    write_summary(summary / "throughput.csv", throughput_plan.collect(files))
    out = results / "report" / "report.html"
    report.run(summary, out)
    return out
