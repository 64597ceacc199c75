"""Published vs reproduced: each paper's headline number beside ours (torch-free).

``benchmarks/report/published.csv`` holds the numbers of ``methods-spec.md`` (Parts 2.8, 3.7;
Parts 4, 5.7, 6.8 and 7.6 publish none) with their source, protocol notes and a tolerance. A row is
matched to our summary by method id and dataset id; only ``average`` rows can match, since the suite
scores one foreground label per case. Random-init runs are shown but never compared.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.core import REPO_ROOT

TABLE = REPO_ROOT / "benchmarks" / "report" / "published.csv"
COLUMNS = ["method", "dataset", "label", "metric", "published", "tolerance", "entry", "ours",
           "delta", "within_tolerance", "note", "source", "protocol"]


def read(path: Path = TABLE) -> pd.DataFrame:
    """The published table (empty strings stay strings)."""
    return pd.read_csv(path, keep_default_na=False, dtype={"value": float, "tolerance": float})


def _unmatched(row: pd.Series, note: str) -> dict:
    return {"entry": "", "ours": np.nan, "delta": np.nan, "within_tolerance": "", "note": note}


def _match(row: pd.Series, summary: pd.DataFrame) -> list[dict]:
    """Our rows for one published row, with the reason when there is nothing to compare."""
    if not row["dataset"]:
        return [_unmatched(row, "source does not name the dataset")]
    if not str(row["label"]).startswith("average"):
        return [_unmatched(row, "per-organ number: the suite scores one foreground label")]
    column = f"{row['metric']}_mean"
    ours = summary[(summary["method"] == row["method"]) & (summary["dataset"] == row["dataset"])]
    if ours.empty or column not in ours:
        return [_unmatched(row, "not run in this grid")]
    out = []
    for _, cell in ours.iterrows():
        entry = f"{cell['backbone']} / prompt={cell['prompt']}"
        if "random_init" in str(cell["weights"]):
            out.append({"entry": entry, "ours": cell[column], "delta": np.nan,
                        "within_tolerance": "", "note": "random init: not a reproduction"})
            continue
        delta = float(cell[column]) - float(row["value"])
        out.append({"entry": entry, "ours": cell[column], "delta": delta,
                    "within_tolerance": "yes" if abs(delta) <= row["tolerance"] else "no",
                    "note": "compared"})
    return out


def compare(published: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """One row per (published number, our matching cell); Δ = ours - published."""
    rows = []
    for _, row in published.iterrows():
        base = {"method": row["method"], "dataset": row["dataset"], "label": row["label"],
                "metric": row["metric"], "published": row["value"],
                "tolerance": row["tolerance"], "source": row["source"],
                "protocol": row["protocol"]}
        rows += [base | match for match in _match(row, summary)]
    return pd.DataFrame(rows, columns=COLUMNS)


def split(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows matched to a cell of this grid, rows that are not) of :func:`compare`'s table; the
    unmatched rows lose the columns that only a match fills."""
    matched = table["entry"].astype(str) != ""
    empty = ["entry", "ours", "delta", "within_tolerance"]
    return (table[matched].reset_index(drop=True),
            table[~matched].drop(columns=empty).reset_index(drop=True))
