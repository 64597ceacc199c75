"""What a reader must see first: the grid at a glance and the warnings about numbers that mean
less than they seem (random init, all-empty predictions, under-trained cells, failures).
Reads summary tables only.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.runs import grid

STATE_CLASS = {"failed": "bad", "random init": "rand", "zero-shot random init": "rand",
               "done": "ok", "zero-shot": "ok", "skipped": "skip"}


def _cells(df: pd.DataFrame, state: str) -> pd.DataFrame:
    cols = ["dataset", "method", "backbone", "prompt", "fold", "seed"]
    if df is None or df.empty:
        return pd.DataFrame(columns=[*cols, "state"])
    present = [c for c in cols if c in df]
    return df[present].drop_duplicates().assign(state=state)


def unfinished(status: pd.DataFrame | None) -> pd.DataFrame:
    """Stage records whose latest state is not ``done`` (a retried-and-recovered attempt is not
    one: its ``final_state`` is done), and the ``missing`` rows of cells without metrics."""
    if status is None or status.empty or "state" not in status:
        return pd.DataFrame(columns=["cell", "stage", "state"])
    final = status["state"]
    if "final_state" in status:
        final = status["final_state"].astype(object).fillna(final)
    bad = status.assign(state=final)[final.astype(str) != "done"]
    return bad.drop_duplicates(["cell", "stage"], keep="last")


def failed_cells(status: pd.DataFrame) -> pd.DataFrame:
    """Cells with any stage not ``done``, parsed from ``status.csv``'s ``cell`` paths."""
    bad = unfinished(status)
    # one state per cell: a failed train also leaves the cell's metrics "missing" (counted once)
    bad = bad.assign(_missing=bad["state"].astype(str).eq("missing")).sort_values(
        "_missing", kind="stable").drop_duplicates("cell")
    rows = []
    for cell, state in zip(bad["cell"], bad["state"], strict=True):
        try:
            run = grid.parse_path(str(cell))
        except grid.GridError:
            continue  # not a grid cell (nothing to place in the matrix)
        rows.append(run.__dict__ | {"state": str(state)})
    return pd.DataFrame(rows) if rows else _cells(None, "failed")


def glance(metrics: pd.DataFrame, status: pd.DataFrame, skipped: pd.DataFrame
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Method x dataset matrix of cell counts by state, and a CSS class per matrix cell.

    A cell is ``done`` when its metrics exist (``random init`` when they came from a run without
    pretrained weights), ``failed`` when status.csv holds a stage that did not finish, and
    ``skipped`` when the grid could not run it (reason in the skipped table).
    """
    done = metrics.drop_duplicates(["dataset", "method", "backbone", "prompt", "fold", "seed"])
    zero = done["training"].astype(str).str.contains("zero_shot") if "training" in done \
        else pd.Series(False, index=done.index)
    rand = done["weights"].astype(str).str.contains("random_init")
    done = done.assign(state=rand.map({True: "random init", False: "done"}).where(
        ~zero, "zero-shot" + rand.map({True: " random init", False: ""})))
    frames = [done[["dataset", "method", "state"]], failed_cells(status)[["dataset", "method",
                                                                          "state"]],
              _cells(skipped, "skipped")[["dataset", "method", "state"]]]
    cells = pd.concat([f for f in frames if len(f)], ignore_index=True)
    counts = cells.groupby(["method", "dataset", "state"]).size().unstack("state", fill_value=0)
    text = counts.apply(lambda row: ", ".join(f"{n} {s}" for s, n in row.items() if n), axis=1)
    values = text.unstack("dataset").fillna("–")
    classes = counts.apply(_worst, axis=1).unstack("dataset").fillna("skip")
    values.index.name = "method \\ dataset"
    return values, classes


def _worst(row: pd.Series) -> str:
    """Colour of a matrix cell: failed beats random init beats done beats skipped."""
    states = [s for s, n in row.items() if n]
    failed = any(s not in STATE_CLASS for s in states) or "failed" in states
    for state in ("failed", "random init", "zero-shot random init", "done", "zero-shot",
                  "skipped"):
        if state in states or (state == "failed" and failed):
            return STATE_CLASS[state]
    return "skip"


def stale_warnings(status: pd.DataFrame | None) -> list[str]:
    """One warning per cell whose metrics were left out because an input they were made from is
    gone (``state == "stale"`` rows of status.csv, :mod:`benchmarks.runs.freshness`)."""
    if status is None or status.empty or "state" not in status:
        return []
    stale = status[status["state"].astype(str) == "stale"]
    return [f"Stale, left out of every table: {row['cell']} ({row['stage']}) was {row['reason']}."
            for _, row in stale.iterrows()]


def bad_input_warnings(summary: pd.DataFrame) -> list[str]:
    """Entries none of whose cases could be scored: every test case is bad input (a data
    problem: its reason is in each case's ``message`` in metrics.csv; ``cli check-data``)."""
    if summary.empty or "n_bad_input" not in summary:
        return []
    rows = summary[(summary["n_cases"] > 0) & (summary["n_bad_input"] >= summary["n_cases"])]
    if "organ" in rows:
        rows = rows[rows["organ"].astype(str) != "mean"]
    return [f"All bad input: {row['method']}/{row['backbone']} on {row['dataset']}: none of its "
            f"{row['n_cases']} test case(s) could be scored (the reason is in each case's "
            "message in metrics.csv; check the data with `cli check-data`)."
            for _, row in rows.iterrows()]


def warnings(summary: pd.DataFrame, cells: pd.DataFrame | None, status: pd.DataFrame | None,
             speed: pd.DataFrame | None) -> list[str]:
    """Plain-text warnings, most important first (the report shows them at the top)."""
    out = stale_warnings(status) + bad_input_warnings(summary)
    rand = summary[summary["weights"].astype(str).str.contains("random_init")]
    if len(rand):
        out.append("Random init: " + ", ".join(sorted(set(rand["method"]))) + " ran without "
                   "pretrained weights; their numbers measure the pipeline, not the published "
                   "method, and are never compared with published numbers.")
    empty = summary[(summary["n_ok"] > 0) & (summary["n_empty_pred"] >= summary["n_ok"])]
    for _, row in empty.iterrows():
        out.append(f"All predictions empty: {row['method']}/{row['backbone']} on "
                   f"{row['dataset']} predicted nothing on every case (n_empty_pred = "
                   f"{row['n_empty_pred']}); its Dice {row['dice_mean']:.3f} says the model "
                   "never fired (often a too-small training budget), not how it segments.")
    if cells is not None and "under_budget" in cells:
        short = cells[cells["under_budget"].fillna("").astype(str) != ""]
        for _, row in short.iterrows():
            out.append(f"Under-trained: {row['cell']} ran {row['under_budget']} (card "
                       f"recommends {row['recommended_budget']}).")
    n_bad = len(unfinished(status))
    if n_bad:
        out.append(f"{n_bad} stage(s) did not finish or cell(s) have no metrics: see the "
                   "failure table.")
    if speed is not None and "status" in speed:
        # an OOM that ends the batch-doubling sweep above batch 1 is how the sweep stops
        bad = speed[(speed["status"] != "ok") & ((speed["mode"] != "offline")
                                                 | (speed["batch"] == 1))]
        if len(bad):
            out.append(f"{len(bad)} throughput measurement(s) at batch 1 failed or ran out of "
                       "memory: see the failure table.")
    return out
