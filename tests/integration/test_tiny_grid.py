"""The whole DAG on CPU: 2 methods on a tiny synthetic set, then a rerun that does nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.integration.test_dryrun import run_grid, snakemake

TINY = {
    "datasets": {"synthetic_bus": {"loader": "synthetic_bus", "root": "results/data/synthetic_bus",
                                   "generate": "bus", "n_cases": 12,
                                   "overrides": ["dataset.n_folds=3"]},
                 "synthetic_ct": {"loader": "synthetic_ct", "root": "results/data/synthetic_ct",
                                  "generate": "ct", "n_cases": 6,
                                  "overrides": ["dataset.train_slices_per_volume=4"]}},
    "methods": {
        "resnet_seg": {"backbones": ["resnet18"],
                       "overrides": ["method.variant=tiny", "method.image_size=64",
                                     "method.max_steps=2", "method.batch_size=2",
                                     "method.optimizer=adamw", "method.lr=0.0003"],
                       "resources": {"train": {"gpu": 0, "mem_gb": 2, "runtime_min": 10},
                                     "predict": {"gpu": 0, "mem_gb": 2, "runtime_min": 10},
                                     "throughput": {"gpu": 0, "mem_gb": 2, "runtime_min": 10}}},
        "yolo_seg": {"backbones": ["n"],
                     "overrides": ["method.variant=tiny", "method.image_size=64",
                                   "method.max_epochs=1", "method.batch_size=4",
                                   "method.augment=false"],
                     "resources": {"train": {"gpu": 0, "mem_gb": 2, "runtime_min": 10},
                                   "predict": {"gpu": 0, "mem_gb": 2, "runtime_min": 10}}},
    },
    "throughput": {"overrides": ["warmup=1", "iters=3", "batch_iters=1", "max_batch=2"]},
    "folds": [0],
    "seeds": [0],
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny_grid")
    return run_grid(workdir, TINY)


def test_summary_has_one_row_per_cell_with_random_init(tiny_run: Path) -> None:
    summary = pd.read_csv(tiny_run / "results" / "summary" / "summary.csv")
    assert sorted(summary["method"]) == ["resnet_seg", "resnet_seg", "yolo_seg", "yolo_seg"]
    assert (summary["weights"] == "random_init").all()
    n_cases = dict(zip(summary["dataset"], summary["n_cases"], strict=False))
    assert n_cases == {"synthetic_bus": 4,  # 12 cases, 6 patients, 3 folds -> 2 patients
                       "synthetic_ct": 2}  # 6 volumes, 3 folds
    assert summary["dice_mean"].between(0, 1).all()


def test_per_case_table_records_protocol_and_status(tiny_run: Path) -> None:
    metrics = pd.read_csv(tiny_run / "results" / "summary" / "metrics.csv")
    assert {"dice", "iou", "hd95", "status", "split_sha256", "empty_policy"} <= set(metrics)
    assert set(metrics["status"]) <= {"ok", "failed", "invalid_prediction", "bad_input"}
    assert metrics["weights"].eq("random_init").all()


def test_cell_has_config_and_provenance(tiny_run: Path) -> None:
    cell = next((tiny_run / "results" / "runs").glob("dataset=*/method=yolo_seg/*/*/*/*/train"))
    assert (cell / "config.resolved.yaml").read_text().count("max_epochs: 1") == 1
    assert '"weights": "random_init"' in (cell / "provenance.json").read_text()


def test_3d_dataset_runs_slice_wise_and_is_scored_per_volume_in_mm(tiny_run: Path) -> None:
    skipped = pd.read_csv(tiny_run / "results" / "summary" / "skipped.tsv", sep="\t")
    assert skipped.empty  # both baselines take volumes slice by slice
    metrics = pd.read_csv(tiny_run / "results" / "summary" / "metrics.csv")
    ct = metrics[metrics["dataset"] == "synthetic_ct"]
    assert len(ct) == 2 * 2 and (ct["status"] == "ok").all()  # 2 methods x 2 test volumes
    assert (ct["distance_unit"] == "mm").all() and ct["case_id"].str.startswith("ct_").all()
    cell = next((tiny_run / "results" / "runs").glob("dataset=synthetic_ct/method=yolo_seg/"
                                                      "*/*/*/*/predict"))
    with np.load(cell / "predictions.npz") as npz:
        assert {npz[k].shape for k in npz.files} == {(48, 48, 20)}  # the original volume shape


def test_report_shows_table_figure_and_random_init(tiny_run: Path) -> None:
    html = (tiny_run / "results" / "report" / "report.html").read_text()
    assert "Results: method × dataset" in html and "data:image/png;base64," in html
    assert "Random init" in html and "yolo_seg" in html and "Grid at a glance" in html
    assert "Paired Wilcoxon signed-rank tests" in html and html.count("Cases per cell") == 2
    assert "Counts per cell" not in html  # merged into "Cases per cell" (nav link + section)
    assert "synthetic_ct" in html and "synthetic_bus" in html  # 2D and 3D side by side
    # 2 steps < the card's 2000: the loud under-trained warning names the cell
    assert "Under-trained: dataset=synthetic_bus/method=resnet_seg" in html
    assert "Dice vs throughput" in html and "Published vs reproduced" in html


def test_throughput_rows_for_every_method_on_the_cpu(tiny_run: Path) -> None:
    table = pd.read_csv(tiny_run / "results" / "summary" / "throughput.csv")
    assert sorted(table["method"].unique()) == ["resnet_seg", "yolo_seg"]
    assert (table["device"] == "cpu").all() and (table["size"] == 64).all()
    assert (table["status"] == "ok").all() and table["dtype"].eq("float32").all()
    offline = table[table["mode"] == "offline"]
    assert sorted(offline["batch"]) == [1, 1, 2, 2]  # doubling up to the configured cap of 2
    assert (table["params_total"] >= table["params_trainable"]).all()
    assert (table["flops_b1"] > 0).all() and (table["latency_ms_p50"] > 0).all()
    assert pd.read_parquet(tiny_run / "results" / "summary" / "throughput.parquet").shape == \
        table.shape


def test_report_opens_in_chromium_without_errors(tiny_run: Path) -> None:
    from tests import browser

    reason = browser.missing()
    if reason:
        pytest.skip(reason)
    shot = tiny_run / "results" / "report" / "report.png"
    result = browser.check_page(tiny_run / "results" / "report" / "report.html", shot)
    assert result["errors"] == []
    assert len(result["images"]) >= 2 and all(i["width"] > 0 for i in result["images"])
    assert result["sortable_headers"] > 10 and shot.stat().st_size > 50_000
    layout = result["layout"]  # at 1400 px: nothing sticks out, the answer comes first
    assert layout["overflow"] == [] and layout["page_width"] <= layout["viewport_width"]
    assert layout["sections"][:2] == ["warnings", "headline"]
    assert layout["figures"] and all(set(f["plotted"]) <= set(f["legend"])
                                     for f in layout["figures"])


def test_second_run_has_nothing_to_do(tiny_run: Path) -> None:
    proc = snakemake(tiny_run, TINY, "-n", "--cores", "2")
    assert "Nothing to be done" in proc.stdout + proc.stderr
