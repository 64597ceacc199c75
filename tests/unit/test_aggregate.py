"""Aggregation: counts, failures charged to the method, and missing inputs are errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks import aggregate
from benchmarks.io import write_table

ROWS = [  # (case, status, subset, empty_ref, empty_pred, dice)
    ("a", "ok", "lesion", False, False, 0.8),
    ("b", "ok", "lesion", False, False, 0.6),
    ("c", "failed", "lesion", False, False, 0.0),
    ("d", "ok", "normal", True, True, 1.0),
    ("e", "bad_input", "lesion", False, False, float("nan")),
]


def _table() -> pd.DataFrame:
    return pd.DataFrame([{
        "dataset": "d1", "method": "m1", "backbone": "b", "prompt": "none", "fold": 0, "seed": 0,
        "weights": "random_init", "case_id": c, "status": s, "subset": sub, "empty_ref": er,
        "empty_pred": ep, "distance_unit": "px", "dice": d, "iou": d, "hd95": 1.0,
    } for c, s, sub, er, ep, d in ROWS])


def test_summary_counts_and_means() -> None:
    row = aggregate.summarise(_table()).iloc[0]
    assert (row["n_cases"], row["n_ok"], row["n_failed"], row["n_bad_input"]) == (5, 3, 1, 1)
    assert row["dice_mean"] == pytest.approx((0.8 + 0.6 + 0.0 + 1.0) / 4)  # failure counts as 0
    assert row["n_empty_ref"] == 1 and row["fp_rate_normal"] == 0.0
    assert row["weights"] == "random_init"


def test_each_prompt_protocol_is_its_own_row() -> None:
    both = pd.concat([_table().assign(prompt="box"), _table().assign(prompt="pos1")])
    summary = aggregate.summarise(both)
    assert summary["prompt"].tolist() == ["box", "pos1"] and (summary["n_cases"] == 5).all()


def test_missing_input_is_an_error(tmp_path: Path) -> None:
    present = tmp_path / "m.csv"
    write_table(present, _table())
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        aggregate.run([str(present), str(tmp_path / "absent.csv")], [], str(tmp_path),
                      tmp_path / "out")
