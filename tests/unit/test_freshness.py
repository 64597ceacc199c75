"""Stale and failed results without training (issue 19 items 1-3 and 13): what a starting stage
removes, which metrics the aggregate leaves out, and a report for a grid where nothing scored."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.report import glance
from benchmarks.runs import freshness, grid
from benchmarks.stages import aggregate, report
from tests import results_tree

RUN = grid.Run("ds0", "m0", "b0", 0, 0)
BAD_INPUT_ROW = ("dataset,method,backbone,prompt,variant,fold,seed,weights,training,trained_on,"
                 "case_id,status,message,dice,iou,hd95,nsd\n"
                 "ds0,m1,b0,none,tiny,0,0,random_init,trained,ds0,c0,bad_input,"
                 "c0.png: cannot decode image,,,,\n")


def _touch(paths: list[Path]) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")


def test_train_start_removes_the_cells_predictions_and_metrics_only(tmp_path: Path) -> None:
    cell = tmp_path / "runs" / RUN.path
    files = [cell / "train" / "model.pt", cell / "predict" / "predictions.npz",
             cell / "predict" / "cases.csv", cell / "evaluate" / "metrics.csv"]
    _touch(files)
    removed = freshness.invalidate(cell / "train", "train")
    assert sorted(removed) == sorted(files[1:])
    assert files[0].exists()  # its own outputs are Snakemake's to remove
    assert freshness.invalidate(cell / "predict", "predict") == []  # already gone
    sentinels = [tmp_path / "summary" / "aggregate.done", tmp_path / "report" / "report.done"]
    _touch([*files[1:], *sentinels])
    # the summary is out of date too: else the next run would never replan the missing metrics
    assert freshness.invalidate(cell / "predict", "predict", tmp_path) == [files[3], *sentinels]
    assert freshness.invalidate(cell / "evaluate", "evaluate", tmp_path) == []


def test_an_earlier_phase_invalidates_later_phases_not_its_sibling_half(tmp_path: Path) -> None:
    cell = tmp_path / "runs" / grid.Run("ds0", "ultra_refiner", "vit_b", 0, 0).path
    own = cell / "train" / "model.pt"
    half0 = cell / "phase=coarse" / "half=0" / "predict" / "predictions.npz"
    half1 = cell / "phase=coarse" / "half=1" / "predict" / "predictions.npz"
    _touch([own, half0, half1])
    removed = freshness.invalidate(cell / "phase=coarse" / "half=0" / "train", "train")
    assert sorted(removed) == sorted([own, half0])  # the refiner trains on both halves' masks
    assert half1.exists()
    _touch([own])
    scored = cell / "phase=coarse" / "evaluate"  # a scored phase's evaluate feeds nothing later
    assert freshness.invalidate(scored, "evaluate") == [] and own.exists()
    assert freshness.invalidate(cell / "phase=coarse" / "predict", "predict") == [] and own.exists()
    assert freshness.invalidate(cell / "phase=coarse" / "half=1" / "predict", "predict") == [own]


def test_metrics_whose_predictions_are_gone_are_stale_not_reported(tmp_path: Path) -> None:
    results = tmp_path / "results"
    stale = grid.Run("ds0", "m0", "b0", 1, 0)
    cells = results_tree.write_tree(results, [RUN, stale], stages=())
    gone = results / "runs" / stale.path / "predict" / "predictions.npz"
    gone.unlink()  # its forced predict job was killed: Snakemake removed the file
    aggregate.run(cells, results, results / "summary")
    summary = pd.read_csv(results / "summary" / "summary.csv")
    assert summary["n_cells"].tolist() == [1]
    assert set(pd.read_csv(results / "summary" / "metrics.csv")["fold"]) == {0}
    status = pd.read_csv(results / "summary" / "status.csv")
    row = status[status["cell"] == stale.path]
    assert row["state"].tolist() == ["stale"]  # one row: not "missing" as well
    reason = row["reason"].iloc[0]
    assert f"made from results/runs/{stale.path}/predict/predictions.npz, which is gone" in reason
    assert f"snakemake --forcerun results/runs/{stale.path}/predict/predictions.npz" in reason
    (warning,) = glance.stale_warnings(status)
    assert warning.startswith(f"Stale, left out of every table: {stale.path} (evaluate) was made")


def test_an_external_sets_metrics_are_stale_when_its_source_model_is_gone(tmp_path: Path
                                                                          ) -> None:
    results = tmp_path / "results"
    external = grid.Run("ext", "m0", "b0", 0, 0)
    cells = results_tree.write_tree(results, [RUN, external], stages=())
    (results / "splits" / "dataset=ext" / "split.json").write_text('{"train_from": "ds0"}')
    (results / "runs" / external.path / "train" / "provenance.json").unlink()  # never trained there
    aggregate.run(cells, results, results / "summary")
    assert pd.read_csv(results / "summary" / "status.csv")["state"].eq("stale").sum() == 0
    (results / "runs" / RUN.path / "train" / "provenance.json").unlink()
    aggregate.run(cells, results, results / "summary")
    status = pd.read_csv(results / "summary" / "status.csv")
    assert sorted(status["cell"][status["state"] == "stale"]) == sorted([RUN.path, external.path])


def test_every_cell_failed_still_renders_a_report_saying_so(tmp_path: Path) -> None:
    results = tmp_path / "results"
    cells = results / "summary" / "cells.tsv"
    grid.write_cells([RUN], cells)
    aggregate.run(cells, results, results / "summary")  # no metrics, no records at all
    out = results / "report" / "report.html"
    report.run(results / "summary", out)
    html = out.read_text()
    assert "No current results" in html and RUN.path in html  # the missing cell is named


def test_a_cell_whose_every_case_is_bad_input_is_named(tmp_path: Path) -> None:
    results = tmp_path / "results"
    bad = grid.Run("ds0", "m1", "b0", 0, 0)
    cells = results_tree.write_tree(results, [RUN], stages=())
    path = results / "runs" / bad.path / "evaluate" / "metrics.csv"
    path.parent.mkdir(parents=True)
    path.write_text(BAD_INPUT_ROW)  # the columns of an evaluate where every case raised
    results_tree.write_inputs(results, bad)
    grid.write_cells([RUN, bad], cells)
    aggregate.run(cells, results, results / "summary")  # was KeyError: 'empty_ref'
    summary = pd.read_csv(results / "summary" / "summary.csv")
    row = summary[summary["method"] == "m1"].iloc[0]
    assert (row["n_cases"], row["n_bad_input"], row["n_failed"]) == (1, 1, 0)
    out = results / "report" / "report.html"
    report.run(results / "summary", out)
    assert "All bad input: m1/b0 on ds0: none of its 1 test case(s)" in out.read_text()


def test_a_cell_with_a_failed_train_counts_once_in_the_glance() -> None:
    """Issue 19 (smaller): one failed train showed as both "1 failed" and "1 missing"."""
    metrics = pd.DataFrame(columns=aggregate.METRICS_COLUMNS)
    status = pd.DataFrame([
        {"cell": RUN.path, "stage": "train", "state": "failed"},
        {"cell": RUN.path, "stage": "metrics", "state": "missing"}])
    values, _ = glance.glance(metrics, status, pd.DataFrame())
    assert values.loc["m0", "ds0"] == "1 failed"


def test_provenance_summary_of_a_grid_where_no_train_finished_keeps_its_columns(
        tmp_path: Path) -> None:
    """The failure path now remakes provenance.csv (issue 19 item 3): with every train failed it
    must still be a table the report can read."""
    from benchmarks.core.io import write_summary
    from benchmarks.report import provenance_table

    cells = tmp_path / "summary" / "cells.tsv"
    grid.write_cells([RUN], cells)
    out = tmp_path / "summary" / "provenance.csv"
    write_summary(out, provenance_table.collect(cells, tmp_path, tmp_path / "cache"))
    table = pd.read_csv(out)
    assert table.empty and {"cell", "under_budget", "weights"} <= set(table.columns)
