"""A grid with one good and one broken dataset (an empty folder as root) still ends with a report
whose failure table names the broken cell and why (issue 9, item 2)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.conftest import REPO
from tests.integration.test_dryrun import snakemake

CHEAP = ["method.variant=tiny", "method.image_size=32", "method.max_steps=1",
         "method.batch_size=2"]
NEEDS = {"gpu": 0, "mem_gb": 2, "runtime_min": 10}


def _grid(empty_root: Path) -> dict:
    return {
        "datasets": {"synthetic_bus": {"loader": "synthetic_bus", "generate": "bus", "n_cases": 8,
                                       "root": "results/data/synthetic_bus",
                                       "overrides": ["dataset.n_folds=2"]},
                     "broken_bus": {"loader": "synthetic_bus", "root": str(empty_root)}},
        "methods": {"resnet_seg": {"backbones": ["resnet18"], "overrides": CHEAP,
                                   "resources": {"train": NEEDS, "predict": NEEDS}}},
        "folds": [0],
        "seeds": [0],
    }


def test_broken_dataset_still_gets_a_report_naming_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty_dataset"
    empty.mkdir()
    workdir = tmp_path / "run"
    workdir.mkdir()
    proc = snakemake(workdir, _grid(empty), "--profile", str(REPO / "profiles" / "local"))
    assert proc.returncode != 0  # a job failed, and the run says so
    summary = workdir / "results" / "summary"
    assert pd.read_csv(summary / "summary.csv")["dataset"].tolist() == ["synthetic_bus"]
    status = pd.read_csv(summary / "status.csv")
    broken = "dataset=broken_bus/method=resnet_seg/backbone=resnet18/prompt=none/fold=0/seed=0"
    missing = status[status["state"] == "missing"]
    assert missing["cell"].tolist() == [broken]
    assert missing["reason"].iloc[0].startswith("split of dataset=broken_bus failed: ")
    split = status[(status["cell"] == "dataset=broken_bus") & (status["stage"] == "split")]
    assert split["state"].tolist() == ["failed"]
    html = (workdir / "results" / "report" / "report.html").read_text()
    assert broken in html and "split of dataset=broken_bus failed" in html
