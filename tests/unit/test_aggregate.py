"""Aggregation: counts, failures charged to the method, missing cells and killed attempts listed
with their reasons, and a 20,000-cell grid read once and then incrementally."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.core import filecache
from benchmarks.core.io import write_json
from benchmarks.runs import grid
from benchmarks.stages import aggregate
from tests import results_tree

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


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def _record(results: Path, key: str, stage: str, state: str, **info) -> None:
    write_json(results / "status" / key / f"{stage}.json",
               {"cell": key, "stage": stage, "state": state, "time": 1.0, **info})


def test_missing_cells_and_killed_attempts_are_listed_with_reasons(tmp_path: Path) -> None:
    results = tmp_path / "results"
    good, failed, unknown = results_tree.grid_cells(3)  # ds0/m0/b0, folds 0, 1, 2
    no_split = grid.Run("ds1", "m0", "b0", 0, 0)
    runs = [good, failed, no_split, unknown]
    cells = results_tree.write_tree(results, [good], stages=())
    grid.write_cells(runs, cells)
    killed = {"state": "failed", "reason": "process 7 ended without recording a result (killed?)",
              "attempt": "1"}
    _record(results, good.path, "train", "done", history=[killed])
    _record(results, good.path, "evaluate", "running", pid=_dead_pid(), host=socket.gethostname())
    _record(results, failed.path, "train", "failed", error="TrainingError: non-finite loss")
    _record(results, "dataset=ds1", "split", "failed", error="SplitError: 0 patients")
    aggregate.run(cells, results, results / "summary")
    table = pd.read_csv(results / "summary" / "status.csv")
    missing = table[table["state"] == "missing"].set_index("cell")["reason"]
    assert sorted(missing.index) == sorted(r.path for r in (failed, no_split, unknown))
    assert missing[failed.path] == "train failed: TrainingError: non-finite loss"
    assert missing[no_split.path] == "split of dataset=ds1 failed: SplitError: 0 patients"
    assert missing[unknown.path].startswith("not run: no failure recorded")
    train = table[(table["cell"] == good.path) & (table["stage"] == "train")]
    assert train[["attempt", "state", "final_state"]].values.tolist() == [[1, "failed", "done"],
                                                                         [2, "done", "done"]]
    assert "killed?" in train["reason"].iloc[0]
    evaluate = table[(table["cell"] == good.path) & (table["stage"] == "evaluate")].iloc[0]
    assert evaluate["state"] == "failed" and "ended without recording" in evaluate["reason"]
    assert len(pd.read_csv(results / "summary" / "summary.csv")) == 1


def test_twenty_thousand_cells_and_an_incremental_rerun(tmp_path: Path, monkeypatch) -> None:
    results = tmp_path / "results"
    runs = results_tree.grid_cells(20_000)
    cells = results_tree.write_tree(results, runs[:-1], stages=())
    results_tree.write_done(results, runs[0], "evaluate", seconds=3.5)
    grid.write_cells(runs, cells)
    aggregate.run(cells, results, results / "summary")
    summary = pd.read_csv(results / "summary" / "summary.csv")
    assert len(summary) == 200 and summary["n_cells"].sum() == 19_999
    assert summary["dice_mean"].eq(0.25).all()  # cases i / 2 for i in 0, 1
    assert len(pd.read_csv(results / "summary" / "metrics.csv")) == 2 * 19_999
    status = pd.read_csv(results / "summary" / "status.csv")
    assert status["cell"][status["state"] == "missing"].tolist() == [runs[-1].path]
    jobs = pd.read_csv(results / "summary" / "jobs.csv")
    assert jobs.values.tolist() == [["evaluate", runs[0].path, 3.5, 250.5]]

    parsed: list[str] = []
    parse = filecache.parse_tables
    monkeypatch.setattr(filecache, "parse_tables",
                        lambda ps, *a: parsed.extend(ps) or parse(ps, *a))
    results_tree.write_metrics(results, runs[-1])
    aggregate.run(cells, results, results / "summary")
    assert parsed == [str(results / "runs" / runs[-1].path / "evaluate" / "metrics.csv")]
    assert len(pd.read_csv(results / "summary" / "metrics.csv")) == 2 * 20_000
    assert not pd.read_csv(results / "summary" / "status.csv")["state"].eq("missing").any()


def test_earlier_phase_jobs_are_listed_under_their_cell(tmp_path: Path) -> None:
    """A multi-phase method's earlier jobs (UltraRefiner: Phase 1, its out-of-fold halves,
    Phase 2) are in jobs.csv and status.csv with the job's path below the cell as its stage,
    and a failed Phase 2 is the reason its cell has no metrics."""
    results = tmp_path / "results"
    done, failed = (grid.Run("ds0", "ultra_refiner", "vit_b", fold, 0) for fold in (0, 1))
    cells = results_tree.write_tree(results, [done], stages=())
    grid.write_cells([done, failed], cells)
    for run in (done, failed):
        for job in ("phase=coarse/train", "phase=coarse/half=1/predict"):
            results_tree.write_done(results, run, job)
    _record(results, f"{failed.path}/phase=refiner", "train", "failed", error="OOFError: leak")
    aggregate.run(cells, results, results / "summary")
    jobs = pd.read_csv(results / "summary" / "jobs.csv")
    assert sorted(map(tuple, jobs[["cell", "stage"]].values.tolist())) == sorted(
        (run.path, job) for run in (done, failed)
        for job in ("phase=coarse/train", "phase=coarse/half=1/predict"))
    table = pd.read_csv(results / "summary" / "status.csv")
    refiner = table[table["stage"] == "phase=refiner/train"]
    assert refiner[["cell", "state"]].values.tolist() == [[failed.path, "failed"]]
    missing = table[table["state"] == "missing"].set_index("cell")["reason"]
    assert missing.to_dict() == {failed.path: "phase=refiner/train failed: OOFError: leak"}
