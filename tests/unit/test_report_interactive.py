"""The report's interactive section on a metrics table with known per-round values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.report import interactive
from benchmarks.scoring import interactive as scoring


def _rows(method: str, dice_of_round, n_cases: int = 8) -> list[dict]:
    rows = []
    for case in range(n_cases):
        rounds = [{"round": k, "dice": dice_of_round(k, case), "nsd": dice_of_round(k, case),
                   "nsd_cvpr25": dice_of_round(k, case), "seconds": 0.02, "click_seconds": 0.005,
                   "decode_seconds": 0.015, "click_label": 1 if k else None}
                  for k in range(6)]
        rows.append({"dataset": "d", "method": method, "backbone": "b", "prompt": "boxclicks5",
                     "fold": 0, "seed": 0, "case_id": f"c{case}", "status": "ok",
                     "dice": rounds[-1]["dice"], **scoring.wide_columns(rounds, 5)})
    return rows


@pytest.fixture
def metrics() -> pd.DataFrame:
    steady = _rows("steady", lambda k, c: 0.5 + 0.1 * k)  # every case the same
    spread = _rows("spread", lambda k, c: 0.4 + 0.05 * k + 0.01 * c)
    box_only = [{"dataset": "d", "method": "other", "backbone": "b", "prompt": "box", "fold": 0,
                 "seed": 0, "case_id": "c0", "status": "ok", "dice": 0.7}]
    return pd.DataFrame(steady + spread + box_only)


def test_curve_means_and_bands(metrics: pd.DataFrame) -> None:
    table = interactive.curve(interactive.interactive_rows(metrics))
    steady = table[table["entry"] == "steady/b/boxclicks5"].set_index("round")
    assert list(steady.index) == list(range(6))
    assert np.allclose(steady["dice"], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert np.allclose(steady["ci_low"], steady["dice"])  # identical cases: a zero-width band
    spread = table[table["entry"] == "spread/b/boxclicks5"].set_index("round")
    assert spread.loc[0, "dice"] == pytest.approx(0.4 + 0.035)  # mean of 0.01 * 0..7
    assert (spread["ci_low"] < spread["dice"]).all() and (spread["ci_high"] > spread["dice"]).all()
    assert "other/b/box" not in set(table["entry"])  # box-only cells have no rounds


def test_auc_table_and_times(metrics: pd.DataFrame) -> None:
    rows = interactive.interactive_rows(metrics)
    aucs = interactive.auc_table(rows).set_index("entry")
    # rounds 1..5 = 0.6..1.0: four unit intervals of mean 0.8 -> 3.2 (the anchor's AUC)
    assert aucs.loc["steady/b/boxclicks5", "dice_auc_clicks"] == "3.200 [3.200, 3.200]"
    assert aucs.loc["steady/b/boxclicks5", "dice_auc_all"] == "3.750 [3.750, 3.750]"
    assert aucs.loc["steady/b/boxclicks5", "n_cases"] == 8
    times = interactive.time_table(rows).set_index("entry")
    assert times.loc["steady/b/boxclicks5", "ms"] == pytest.approx(20.0)
    assert times.loc["steady/b/boxclicks5", "click_ms"] == pytest.approx(5.0)
    assert times.loc["steady/b/boxclicks5", "clicks_placed_mean"] == 5


def test_section_renders_or_is_absent(metrics: pd.DataFrame) -> None:
    html = interactive.section(metrics)
    assert "Interactive: box, then corrective clicks" in html and "data:image/png" in html
    assert "dice_auc_clicks" in html and "Wilcoxon" in html
    assert interactive.section(metrics[metrics["prompt"] == "box"].dropna(axis=1)) == ""
