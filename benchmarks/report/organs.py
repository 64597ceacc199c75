"""Report section: per-organ rows and the mean over organs of multi-organ entries, with the
dataset each model was trained on (external test sets name their ``train_from`` set)."""

from __future__ import annotations

import pandas as pd

from benchmarks.report import blocks as rh
from benchmarks.runs import grid

COLUMNS = ["dataset", "organ", "method", "backbone", "prompt", "trained_on", "n_cases",
           "dice_mean", "hd95_mean", "distance_unit"]


def organ_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per-organ summary rows under their entry id, each entry's ``mean`` row after its organs."""
    if "organ" not in summary:
        return pd.DataFrame(columns=COLUMNS)
    rows = summary[summary["organ"].fillna("").astype(str) != ""].copy()
    rows["dataset"] = rows["dataset"].str.split(grid.ORGAN_SEP).str[0]
    rows["_last"] = rows["organ"].eq("mean")  # the mean after the organs it averages
    rows = rows.sort_values(["dataset", "method", "backbone", "prompt", "_last", "organ"])
    return rows.reindex(columns=COLUMNS).reset_index(drop=True)


def section(summary: pd.DataFrame) -> str:
    """The per-organ section (a one-line note when the grid has no multi-organ entry)."""
    table = organ_table(summary)
    return rh.section("organs", "Per organ (multi-organ entries)",
                      rh.table(table, "no multi-organ entries in this grid"),
                      "Each organ is its own binary task (dataset id <entry>__<organ>); mean = "
                      "the mean over organs of the per-organ means over volumes (methods-spec "
                      "Part 9 item 5). trained_on: the dataset whose training folds made the "
                      "model (an external test set's train_from set; none = zero-shot).")
