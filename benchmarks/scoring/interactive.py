"""Per-round scores of the interactive protocol (a box, then corrective clicks) and their AUCs.

Round 0 is the box alone; rounds 1..n follow one harness-placed click each
(:mod:`benchmarks.data.clicks`). Every round is scored with our metrics and empty-mask policy
(:mod:`benchmarks.scoring.metrics`), plus the NSD of the anchor evaluator (``CVPR25_iter_eval.py``)
where its rule differs from ours:

- ``nsd``: our NSD at the run's ``eval.nsd_tolerance`` (both empty -> 1, one empty -> 0);
- ``nsd_cvpr25``: the anchor's, at its 2.0 tolerance and 0 wherever Dice <= 0.2 ("NSD is also low
  when dice is too low"); NaN for an empty reference, which the anchor never scores (it loops
  over the classes present in the reference).

AUCs, named by the rounds they cover:

- ``*_auc_clicks``: the anchor's ``cumulative_trapezoid(values[-n_clicks:], arange(n_clicks))
  [-1]``: the trapezoid rule over the click rounds 1..n only, unit spacing, so it lies in
  [0, n - 1] ("AUC is only over the point prompts since the bbox prompt is optional");
- ``*_auc_all``: the same rule over rounds 0..n (the box round included), in [0, n].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.scoring import metrics

CVPR25_NSD_TOLERANCE = 2.0  # CVPR25_iter_eval.py compute_multi_class_nsd(tolerance=2.0)
CVPR25_NSD_MIN_DICE = 0.2  # CVPR25_iter_eval.py: NSD only computed when dice > 0.2, else 0
AUC_COVERAGE = {"clicks": "click rounds 1..n (the anchor's)", "all": "rounds 0..n (box included)"}
SCORES = ("dice", "nsd", "nsd_cvpr25")


def round_key(case_id: str, rnd: int) -> str:
    """The key of one round's mask in a cell's ``predict/rounds.npz``."""
    return f"{case_id}__round{rnd}"


def trapezoid(values: Sequence[float]) -> float:
    """Area under ``values`` at unit spacing by the trapezoid rule (0 for fewer than 2 values)."""
    v = np.asarray(values, float)
    return float(((v[1:] + v[:-1]) / 2).sum()) if v.size > 1 else 0.0


def aucs(values: Sequence[float], n_clicks: int) -> dict[str, float]:
    """``{"auc_clicks", "auc_all"}`` of one case's per-round values (round 0 first)."""
    if len(values) != n_clicks + 1:
        raise ValueError(f"{len(values)} round values for {n_clicks} clicks: expected "
                         f"{n_clicks + 1} (the box round, then one per click)")
    return {"auc_clicks": trapezoid(values[-n_clicks:]), "auc_all": trapezoid(values)}


def round_scores(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float] | None,
                 nsd_tolerance: float) -> dict[str, float]:
    """Dice, our NSD and the anchor's NSD of one round's binary prediction."""
    pred, ref = np.asarray(pred, bool), np.asarray(ref, bool)
    if pred.shape != ref.shape:
        raise ValueError(f"round prediction {pred.shape} != reference {ref.shape}")
    dice = metrics.dice(pred, ref)
    if not ref.any():
        anchor = math.nan
    elif dice > CVPR25_NSD_MIN_DICE:
        anchor = metrics.nsd(pred, ref, spacing, CVPR25_NSD_TOLERANCE)
    else:
        anchor = 0.0
    return {"dice": dice, "nsd": metrics.nsd(pred, ref, spacing, nsd_tolerance),
            "nsd_cvpr25": anchor}


def case_summary(rounds: Sequence[dict[str, Any]], n_clicks: int) -> dict[str, float]:
    """AUCs and final values of one case from its per-round scores (round 0 first)."""
    out: dict[str, float] = {}
    for name in SCORES:
        values = [float(r[name]) for r in rounds]
        for cover, value in aucs(values, n_clicks).items():
            out[f"{name}_{cover}"] = value
        out[f"{name}_final"] = values[-1]
        out[f"{name}_box"] = values[0]
    return out


def wide_columns(rounds: Sequence[dict[str, Any]], n_clicks: int) -> dict[str, float]:
    """One case's row additions for ``metrics.csv``: per-round scores ``<score>_r<k>``, AUCs,
    box and final values, and the mean times of the click rounds (what a user waits per click)."""
    out = case_summary(rounds, n_clicks)
    for rnd in rounds:
        for name in SCORES:
            out[f"{name}_r{int(rnd['round'])}"] = float(rnd[name])
    clicked = [r for r in rounds if int(r["round"]) > 0]
    for name in ("seconds", "click_seconds", "decode_seconds"):
        out[f"round_{name}_mean"] = float(np.mean([float(r[name]) for r in clicked])) if clicked \
            else math.nan
    out["n_clicks_placed"] = sum(1 for r in clicked if r.get("click_label") in (0, 1))
    out["n_click_rounds"] = n_clicks
    return out


def worst_columns(n_clicks: int) -> dict[str, float]:
    """What a failed case scores in every round column (0, counted, never dropped)."""
    rounds = [{"round": k, **dict.fromkeys(SCORES, 0.0), "seconds": math.nan,
               "click_seconds": math.nan, "decode_seconds": math.nan}
              for k in range(n_clicks + 1)]
    return wide_columns(rounds, n_clicks) | {"n_clicks_placed": 0}
