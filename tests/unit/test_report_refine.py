"""Refinement gain: paired per case, with the count of cases made worse."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.report import refine


def _rows(method: str, dice: list[float], hd95: list[float]) -> list[dict]:
    return [{"dataset": "d", "method": method, "backbone": "b", "prompt": "none", "fold": 0,
             "seed": 0, "case_id": f"c{i}", "status": "ok", "dice": v, "hd95": h}
            for i, (v, h) in enumerate(zip(dice, hd95, strict=True))]


def test_gain_is_paired_and_counts_worse_cases() -> None:
    metrics = pd.DataFrame(_rows("m:coarse", [0.5, 0.6, 0.9, 0.2], [10, 8, 2, 30])
                           + _rows("m", [0.7, 0.6, 0.8, 0.6], [6, 8, 3, 10])
                           + _rows("other", [0.1] * 4, [1] * 4))
    table = refine.refinement_gain(metrics)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["method"], row["from"], row["n_cases"], row["n_worse"]) == ("m", "coarse", 4, 1)
    assert row["gain"] == pytest.approx((0.2 + 0.0 - 0.1 + 0.4) / 4)
    assert row["share_worse"] == pytest.approx(0.25)
    assert row["hd95_change"] == pytest.approx((-4 + 0 + 1 - 20) / 4)
    assert row["ci_low"] <= row["gain"] <= row["ci_high"]
    assert "Refinement gain" in refine.section(metrics)


def test_no_multi_phase_rows_no_section() -> None:
    assert refine.section(pd.DataFrame(_rows("m", [0.5], [1.0]))) == ""
