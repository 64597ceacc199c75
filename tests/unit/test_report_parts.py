"""Known answers for the report's parts: published vs reproduced, the grid at a glance, warnings,
the Pareto front, the budget check, and the Parquet copies of summary tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.core.io import write_summary
from benchmarks.report import figures, glance, published
from benchmarks.report.provenance_table import under_budget

PUBLISHED = pd.DataFrame([
    {"method": "m", "dataset": "d", "label": "average", "metric": "dice", "value": 0.80,
     "tolerance": 0.02, "source": "s", "protocol": "p"},
    {"method": "m", "dataset": "d", "label": "liver", "metric": "dice", "value": 0.9,
     "tolerance": 0.02, "source": "s", "protocol": "p"},
    {"method": "m", "dataset": "", "label": "average", "metric": "dice", "value": 0.9,
     "tolerance": 0.02, "source": "s", "protocol": "p"},
    {"method": "x", "dataset": "d", "label": "average", "metric": "dice", "value": 0.9,
     "tolerance": 0.02, "source": "s", "protocol": "p"},
])
SUMMARY = pd.DataFrame([
    {"dataset": "d", "method": "m", "backbone": "b1", "prompt": "box", "weights": "sam_vit_b",
     "dice_mean": 0.81, "n_ok": 10, "n_empty_pred": 0},
    {"dataset": "d", "method": "m", "backbone": "b2", "prompt": "box", "weights": "sam_vit_b",
     "dice_mean": 0.70, "n_ok": 10, "n_empty_pred": 0},
    {"dataset": "d", "method": "m", "backbone": "b3", "prompt": "box", "weights": "random_init",
     "dice_mean": 0.0, "n_ok": 10, "n_empty_pred": 10},
])


def test_published_rows_compare_only_pretrained_average_rows() -> None:
    table = published.compare(PUBLISHED, SUMMARY)
    avg = table[(table["label"] == "average") & (table["dataset"] == "d")
                & (table["method"] == "m")].set_index("entry")
    assert avg.loc["b1 / prompt=box", "delta"] == pytest.approx(0.01)
    assert avg.loc["b1 / prompt=box", "within_tolerance"] == "yes"
    assert avg.loc["b2 / prompt=box", "within_tolerance"] == "no"
    rand = avg.loc["b3 / prompt=box"]
    assert rand["note"].startswith("random init") and pd.isna(rand["delta"])
    assert rand["within_tolerance"] == ""
    notes = set(table.loc[table["entry"] == "", "note"])
    assert notes == {"per-organ number: the suite scores one foreground label",
                     "source does not name the dataset", "not run in this grid"}


def test_published_table_in_the_repository_is_well_formed() -> None:
    table = published.read()
    assert {"medical_sam2", "esam2_bls"} <= set(table["method"])
    assert table["value"].between(0, 1).all() and (table["tolerance"] > 0).all()
    assert table.loc[(table["method"] == "medical_sam2") & (table["label"] == "average"),
                     "value"].tolist() == [0.890, 0.799]
    assert sorted(table.loc[table["method"] == "esam2_bls", "value"]) == [0.8633, 0.9077]


def test_glance_counts_states_per_method_and_dataset() -> None:
    metrics = pd.DataFrame([
        {"dataset": "d1", "method": "a", "backbone": "b", "prompt": "none", "fold": 0, "seed": 0,
         "weights": "random_init", "case_id": c} for c in "xyz"]
        + [{"dataset": "d1", "method": "c", "backbone": "b", "prompt": "none", "fold": 0,
            "seed": 0, "weights": "w.pt", "case_id": "x"}])
    status = pd.DataFrame([{"cell": "dataset=d1/method=a/backbone=b/prompt=none/fold=1/seed=0",
                            "stage": "train", "state": "failed"}])
    skipped = pd.DataFrame([{"dataset": "d2", "method": "a", "backbone": "b", "prompt": "none",
                             "fold": 0, "seed": 0, "reason": "3d"}])
    values, classes = glance.glance(metrics, status, skipped)
    assert values.loc["a", "d1"] == "1 failed, 1 random init"
    assert classes.loc["a", "d1"] == "bad" and classes.loc["a", "d2"] == "skip"
    assert values.loc["c", "d1"] == "1 done" and classes.loc["c", "d1"] == "ok"
    assert values.loc["c", "d2"] == "–"


def test_warnings_name_all_empty_and_under_trained_cells() -> None:
    cells = pd.DataFrame([{"cell": "c1", "under_budget": "max_steps 120 < 2000",
                           "recommended_budget": "max_steps 2000"},
                          {"cell": "c2", "under_budget": "", "recommended_budget": ""}])
    speed = pd.DataFrame([{"mode": "offline", "batch": 8, "status": "oom"}])
    text = glance.warnings(SUMMARY, cells, pd.DataFrame({"state": ["done"]}), speed)
    assert text[0].startswith("Random init: m ")
    assert sum(t.startswith("All predictions empty: m/b3 on d") for t in text) == 1
    assert sum(t.startswith("Under-trained: c1 ran max_steps 120 < 2000") for t in text) == 1
    assert len(text) == 3  # an OOM that ends the batch sweep is no warning


def test_under_budget_compares_only_the_keys_a_cell_has() -> None:
    assert under_budget({"max_steps": 120, "max_epochs": None}, {"max_steps": 2000}) == \
        "max_steps 120 < 2000"
    assert under_budget({"max_steps": 0, "max_epochs": 150}, {"max_epochs": 100}) == ""
    assert under_budget({"max_steps": 5}, {"max_epochs": 100}) == ""


def test_pareto_front_keeps_points_nothing_beats_on_both_axes() -> None:
    points = pd.DataFrame({"speed": [10, 20, 30, 5, 25], "dice": [0.9, 0.85, 0.6, 0.95, 0.5]},
                          index=list("abcde"))
    front = figures.pareto_front(points, "speed", "dice")
    assert front.index.tolist() == ["d", "a", "b", "c"]


def test_summary_tables_get_a_parquet_copy(tmp_path: Path) -> None:
    df = pd.DataFrame({"method": ["a", "b"], "dice": [0.5, 0.7], "status": ["ok", 3]})
    write_summary(tmp_path / "summary.csv", df)
    back = pd.read_parquet(tmp_path / "summary.parquet")
    assert back["dice"].tolist() == [0.5, 0.7] and back["status"].tolist() == ["ok", "3"]
    assert (tmp_path / "summary.csv").exists()


def test_report_modules_do_not_import_torch() -> None:
    code = ("import sys, benchmarks.stages.report, benchmarks.runs.throughput_plan, "
            "benchmarks.report.provenance_table; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_litemedsam_published_rows_name_their_source_and_never_match_a_run() -> None:
    """Issue 20: the challenge's validation images are not one of our data sets."""
    table = published.read()
    lite = table[table["method"] == "litemedsam_zeroshot"]
    assert sorted(zip(lite["metric"], lite["value"], strict=True)) == [("dice", 0.9477),
                                                                       ("nsd", 0.9681)]
    assert (lite["dataset"] == "").all() and lite["source"].str.contains("arXiv:2412.16085").any()
    summary = pd.DataFrame([{"method": "litemedsam_zeroshot", "dataset": "busbra",
                             "backbone": "tiny_vit", "prompt": "box0", "weights": "79d8",
                             "dice_mean": 0.88, "nsd_mean": 0.9}])
    compared = published.compare(lite, summary)
    assert (compared["note"] == "source does not name the dataset").all()
