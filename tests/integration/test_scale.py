"""A 10,000-cell grid plans past the aggregate job: its command line stays short (issue 14).

Before, the aggregate put four paths per cell on its command line: at 10,000 cells that is about
4.4 MB, past Linux's 2 MB limit ("Argument list too long"). The dry run's job list must show the
aggregate job with a command of a few hundred characters and every cell's jobs planned.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.core import registry
from tests.integration.test_dryrun import job_counts, snakemake

pytestmark = pytest.mark.slow


def test_ten_thousand_cells_plan_with_a_short_aggregate_command(tmp_path: Path) -> None:
    datasets = {f"bus{i:02d}": {"loader": "synthetic_bus", "generate": "bus",
                                "root": f"results/data/bus{i:02d}"} for i in range(25)}
    methods = {m: {"backbones": registry.read_card(m)["backbones"]}
               for m in ("resnet_seg", "yolo_seg")}  # 4 + 4 backbones
    config = {"datasets": datasets, "methods": methods, "folds": list(range(5)),
              "seeds": list(range(10))}  # 25 x 8 x 5 x 10 = 10,000 cells
    proc = snakemake(tmp_path, config, "-n", "-p", "--cores", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout)
    assert counts["evaluate_predictions"] == counts["train_model"] == 10_000
    assert counts["aggregate_results"] == 1
    job = proc.stdout[proc.stdout.index("rule aggregate_results:"):]
    command = re.search(r"^Shell command: (.*)$", job, re.M)[1]
    assert len(command) < 300, command[:500]
    assert "--cells results/summary/cells.tsv" in command
    assert len((tmp_path / "results" / "summary" / "cells.tsv").read_text().splitlines()) == 10_001
