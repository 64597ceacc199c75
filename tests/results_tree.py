"""A generated results tree of many cells (small per-case metrics, benchmark and status files) for
the aggregate's scale test and perf/aggregate.py; no training, values known by construction."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from benchmarks.runs import grid

METRICS_HEADER = ("dataset,method,backbone,prompt,variant,fold,seed,weights,case_id,subset,"
                  "message,empty_ref,empty_pred,distance_unit,dice,iou,hd95,status\n")
BENCH = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def grid_cells(n_cells: int) -> list[grid.Run]:
    """``n_cells`` cells over 10 datasets x 10 methods x 2 backbones x 5 folds x seeds."""
    seeds = range(-(-n_cells // 1000))
    axes = itertools.product(range(10), range(10), ("b0", "b1"), range(5), seeds)
    return [grid.Run(f"ds{d}", f"m{m}", b, f, s) for d, m, b, f, s in axes][:n_cells]


def _write(path: Path, text: str) -> None:
    os.makedirs(path.parent, exist_ok=True)
    path.write_text(text)


def write_metrics(results: Path, run: grid.Run, cases: int = 2) -> None:
    """Per-case rows of one cell; Dice of case ``i`` is ``i / cases`` (an ok prediction)."""
    rows = "".join(f"{run.dataset},{run.method},{run.backbone},{run.prompt},tiny,{run.fold},"
                   f"{run.seed},random_init,c{i},lesion,,False,False,px,{i / cases},"
                   f"{i / cases},3.0,ok\n" for i in range(cases))
    _write(results / "runs" / run.path / "evaluate" / "metrics.csv", METRICS_HEADER + rows)
    write_inputs(results, run)


def write_inputs(results: Path, run: grid.Run) -> None:
    """The files a cell's metrics are made from (the aggregate leaves out metrics whose inputs
    are gone: runs.freshness); empty, since only their presence is read."""
    for path in (results / "runs" / run.path / "predict" / "predictions.npz",
                 results / "runs" / run.path / "train" / "provenance.json",
                 results / "splits" / f"dataset={run.dataset}" / "split.json"):
        if not path.exists():
            _write(path, "")


def write_done(results: Path, run: grid.Run, stage: str, seconds: float = 2.0) -> None:
    """The benchmark file and the ``done`` status record of one stage."""
    _write(results / "benchmarks" / run.path / f"{stage}.tsv",
           BENCH + f"{seconds}\t0:00:02\t250.5\t900\t200\t210\t0\t1\t90\t1.8\n")
    record = {"cell": run.path, "stage": stage, "state": "done", "time": 0.0, "history": []}
    _write(results / "status" / run.path / f"{stage}.json", json.dumps(record))


def write_tree(results: Path, runs: list[grid.Run], stages: tuple[str, ...] = ("evaluate",)
               ) -> Path:
    """Metrics, benchmark and status files of every cell, and the cell list; returns the list."""
    for run in runs:
        write_metrics(results, run)
        for stage in stages:
            write_done(results, run, stage)
    cells = results / "summary" / "cells.tsv"
    grid.write_cells(runs, cells)
    return cells
