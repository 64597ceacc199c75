"""Refinement gain: a multi-phase method's final output against its earlier scored phase.

An earlier phase's rows carry ``method = <id>:<phase>`` (``registry.result_label``), the final
phase's rows the plain id; both score the same test cases of the same cell. The gain is paired per
case (final minus earlier), with a bootstrap CI of its mean over seeds and cases, and the count of
cases the refinement made worse.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from benchmarks.scoring import stats

PAIR = ["dataset", "backbone", "prompt", "fold", "seed", "case_id"]
COLUMNS = ["dataset", "method", "from", "backbone", "prompt", "n_cases", "dice_before",
           "dice_after", "gain", "ci_low", "ci_high", "n_worse", "share_worse", "hd95_change"]


def _one(early: pd.DataFrame, final: pd.DataFrame) -> dict:
    """Gain statistics of one (dataset, backbone, prompt) pair of tables."""
    paired = early.merge(final, on=PAIR, suffixes=("_before", "_after"))
    gain = paired["dice_after"] - paired["dice_before"]
    by_seed = paired.assign(gain=gain).pivot_table(index="seed", columns=["fold", "case_id"],
                                                   values="gain", aggfunc="mean")
    low, high = stats.bootstrap_ci(by_seed.to_numpy())
    return {"n_cases": len(paired), "dice_before": paired["dice_before"].mean(),
            "dice_after": paired["dice_after"].mean(), "gain": gain.mean(), "ci_low": low,
            "ci_high": high, "n_worse": int((gain < 0).sum()),
            "share_worse": float((gain < 0).mean()) if len(gain) else np.nan,
            "hd95_change": (paired["hd95_after"] - paired["hd95_before"]).mean()}


def refinement_gain(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, method, earlier phase, backbone, prompt) with paired Dice gains."""
    if "method" not in metrics or not len(metrics):
        return pd.DataFrame(columns=COLUMNS)
    scored = metrics[metrics["status"].ne("bad_input")]  # data problems are not the method's
    labels = scored["method"].astype(str)
    rows = []
    for label in sorted(set(labels[labels.str.contains(":", regex=False)])):
        method, phase = label.split(":", 1)
        early, final = scored[labels == label], scored[labels == method]
        for key, group in early.groupby(["dataset", "backbone", "prompt"]):
            other = final.merge(pd.DataFrame([key], columns=["dataset", "backbone", "prompt"]))
            if len(other):
                rows.append({"dataset": key[0], "method": method, "from": phase,
                             "backbone": key[1], "prompt": key[2], **_one(group, other)})
    return pd.DataFrame(rows, columns=COLUMNS)


def section(metrics: pd.DataFrame) -> str:
    """The report's section ('' when no multi-phase method was scored)."""
    table = refinement_gain(metrics)
    if table.empty:
        return ""
    note = ("Per case: Dice of the final output minus Dice of the earlier phase, same cases "
            "(paired); CI = 95 % bootstrap of the mean gain; n_worse = cases the refinement made "
            "worse; hd95_change = mean change of HD95 (negative is better).")
    body = table.to_html(index=False, escape=True, na_rep="–", border=0,
                         float_format="{:.3f}".format)
    return (f"<section><h2>Refinement gain</h2><p>{html.escape(note)}</p>{body}</section>")
