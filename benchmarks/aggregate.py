"""Collect the declared per-cell files into tidy tables under ``results/summary/``.

Reads only the paths it is given (Snakemake inputs): nothing is globbed or hard-coded, and a
missing input is an error (style guide B9.7).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from benchmarks import grid
from benchmarks.io import read_table, write_table

KEYS = ["dataset", "method", "backbone", "prompt"]
HEADLINE = ("dice", "iou", "hd95")


def _read_all(paths: list[str]) -> pd.DataFrame:
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"expected per-cell metrics are missing: {missing[:5]}")
    return pd.concat([read_table(p) for p in paths], ignore_index=True)


def _cell_summary(group: pd.DataFrame) -> pd.Series:
    """Counts and mean/std of the headline metrics over one (dataset, method, backbone, prompt)."""
    scored = group[group["status"] != "bad_input"]
    normal = scored[scored["subset"] == "normal"] if "subset" in scored else scored.iloc[:0]
    out = {
        "n_cases": len(group),
        "n_cells": group[["fold", "seed"]].drop_duplicates().shape[0],
        "n_ok": int((group["status"] == "ok").sum()),
        "n_failed": int(((group["status"] != "ok") & (group["status"] != "bad_input")).sum()),
        "n_bad_input": int((group["status"] == "bad_input").sum()),
        "n_empty_ref": int(scored["empty_ref"].astype(bool).sum()),
        "n_empty_pred": int(scored["empty_pred"].astype(bool).sum()),
        "fp_rate_normal": float(normal["empty_pred"].eq(False).mean()) if len(normal) else None,
        "weights": ";".join(sorted(group["weights"].astype(str).unique())),
        "distance_unit": ";".join(sorted(scored["distance_unit"].dropna().unique())),
    }
    for name in HEADLINE:
        out[f"{name}_mean"] = scored[name].mean()
        out[f"{name}_std"] = scored[name].std(ddof=1)
    return pd.Series(out)


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, method, backbone, prompt), pooled over folds and seeds."""
    rows = [_cell_summary(g).rename(None).to_dict() | dict(zip(KEYS, k, strict=True))
            for k, g in metrics.groupby(KEYS, sort=True)]
    return pd.DataFrame(rows)[KEYS + [c for c in rows[0] if c not in KEYS]]


def jobs_table(paths: list[str]) -> pd.DataFrame:
    """Wall time and peak RSS per job from Snakemake ``benchmark:`` files."""
    rows = []
    for path in paths:
        bench = read_table(path)
        try:
            cell = grid.parse_path(path).path
        except grid.GridError:
            cell = str(Path(path).parent.name)
        rows.append({"stage": Path(path).stem, "cell": cell, "seconds": float(bench["s"].iloc[-1]),
                     "max_rss_mb": float(bench["max_rss"].iloc[-1])})
    return pd.DataFrame(rows, columns=["stage", "cell", "seconds", "max_rss_mb"])


def status_table(status_root: str | Path) -> pd.DataFrame:
    """The latest recorded state of every stage of every cell."""
    rows = [json.loads(p.read_text()) for p in sorted(Path(status_root).rglob("*.json"))]
    return pd.DataFrame(rows, columns=["cell", "stage", "state", "error", "slurm_job_id",
                                       "attempt", "time"])


def run(metric_paths: list[str], bench_paths: list[str], status_root: str, out: Path) -> None:
    """Write metrics.csv (all cases), summary.csv, jobs.csv and status.csv into ``out``."""
    metrics = _read_all(metric_paths)
    write_table(out / "metrics.csv", metrics)
    write_table(out / "summary.csv", summarise(metrics))
    write_table(out / "jobs.csv", jobs_table(bench_paths))
    write_table(out / "status.csv", status_table(status_root))
