"""Aggregate wall time at 20,000 cells: cold, unchanged rerun, one new cell, and the reference.

Run: ``.venv/bin/python perf/aggregate.py [--cells 20000]``. A generated results tree
(tests/results_tree.py: two cases per cell, a benchmark file and a status record per cell's
evaluate stage) is aggregated by :func:`benchmarks.stages.aggregate.run` three times: from nothing,
again with nothing changed, and after one more cell finished. The reference, timed in the same
run, is what the aggregate did before: one ``pandas.read_csv`` per metrics file, then concat.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.runs import grid  # noqa: E402
from benchmarks.stages import aggregate
from tests import results_tree  # noqa: E402


def timed(func, *args) -> float:
    start = time.perf_counter()
    func(*args)
    return time.perf_counter() - start


def per_file_reference(results: Path, runs: list[grid.Run]) -> None:
    """The former aggregate's reading of the metrics files (its summary and writes excluded)."""
    paths = [results / "runs" / run.path / "evaluate" / "metrics.csv" for run in runs]
    pd.concat([pd.read_csv(p) for p in paths if p.exists()], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=20_000)
    args = parser.parse_args()
    runs = results_tree.grid_cells(args.cells)
    with tempfile.TemporaryDirectory(prefix="aggregate-") as tmp:
        results = Path(tmp) / "results"
        start = time.perf_counter()
        cells = results_tree.write_tree(results, runs[:-1])
        grid.write_cells(runs, cells)
        print(f"generated {args.cells - 1} finished cells in {time.perf_counter() - start:.1f} s")
        out = results / "summary"
        rows = {
            "reference: read_csv per metrics file": timed(per_file_reference, results, runs),
            "aggregate, cold (no cache)": timed(aggregate.run, cells, results, out),
            "aggregate, rerun, nothing changed": timed(aggregate.run, cells, results, out),
        }
        results_tree.write_metrics(results, runs[-1])
        results_tree.write_done(results, runs[-1], "evaluate")
        rows["aggregate, rerun after one new cell"] = timed(aggregate.run, cells, results, out)
        n_rows = len(pd.read_csv(out / "metrics.csv"))
    print(f"{'step':<42}{'wall s':>8}")
    for name, seconds in rows.items():
        print(f"{name:<42}{seconds:>8.2f}")
    print(f"metrics.csv rows: {n_rows} ({args.cells} cells x 2 cases)")


if __name__ == "__main__":
    main()
