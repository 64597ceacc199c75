"""The native 3D baseline through Snakemake: unet3d (tiny) on the synthetic CT set to per-case 3D
metrics in mm, its 2D-only cell skipped with a reason, its throughput timed on a 3D patch."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.integration.test_dryrun import run_grid

CPU = {"gpu": 0, "mem_gb": 2, "runtime_min": 10}
GRID = {
    "datasets": {"synthetic_bus": {"loader": "synthetic_bus", "root": "results/data/synthetic_bus",
                                   "generate": "bus", "n_cases": 12,
                                   "overrides": ["dataset.n_folds=3"]},
                 "synthetic_ct": {"loader": "synthetic_ct", "root": "results/data/synthetic_ct",
                                  "generate": "ct", "n_cases": 6}},
    "methods": {"unet3d": {"overrides": ["method.variant=tiny", "method.patch_size=[32,32,16]",
                                         "method.max_steps=20", "method.optimizer=adamw",
                                         "method.lr=0.003"],
                           "resources": {"train": CPU, "predict": CPU, "throughput": CPU}}},
    "throughput": {"overrides": ["warmup=1", "iters=2", "batch_iters=1", "max_batch=2"]},
    "folds": [0],
    "seeds": [0],
}
CELL = "dataset=synthetic_ct/method=unet3d/backbone=dynunet/prompt=none/fold=0/seed=0"


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_grid(tmp_path_factory.mktemp("unet3d_grid"), GRID)


def test_per_case_3d_metrics_in_mm_with_the_blending_stated(grid_run: Path) -> None:
    metrics = pd.read_csv(grid_run / "results" / "summary" / "metrics.csv")
    assert list(metrics["case_id"]) == ["ct_003", "ct_004"]  # 6 volumes, 3 folds: test fold 0
    assert (metrics["status"] == "ok").all() and (metrics["distance_unit"] == "mm").all()
    assert metrics["dice"].between(0, 1).all()
    assert (metrics["sw_overlap"] == 0.5).all() and (metrics["sw_blend"] == "gaussian").all()
    cell = grid_run / "results" / "runs" / CELL
    prov = json.loads((cell / "train" / "provenance.json").read_text())
    assert prov["volumes"]["volume_input"] == "patches"
    assert prov["volumes"]["sliding_window"] == "monai.inferers.sliding_window_inference"
    assert prov["volumes"]["patch_size"] == [32, 32, 16]


def test_2d_dataset_is_skipped_with_a_reason(grid_run: Path) -> None:
    skipped = pd.read_csv(grid_run / "results" / "summary" / "skipped.tsv", sep="\t")
    assert skipped[["dataset", "method"]].values.tolist() == [["synthetic_bus", "unet3d"]]
    assert skipped["reason"].iloc[0] == "unet3d supports ['3d'] only; synthetic_bus is 2d"


def test_throughput_row_states_the_3d_input(grid_run: Path) -> None:
    table = pd.read_csv(grid_run / "results" / "summary" / "throughput.csv")
    assert (table["status"] == "ok").all() and (table["input_shape"] == "1x32x32x16").all()


def test_jobs_record_wall_time_and_peak_rss(grid_run: Path) -> None:
    for stage in ("train", "predict"):
        bench = pd.read_csv(grid_run / "results" / "benchmarks" / CELL / f"{stage}.tsv", sep="\t")
        assert bench["s"].iloc[0] > 0 and bench["max_rss"].iloc[0] > 0
