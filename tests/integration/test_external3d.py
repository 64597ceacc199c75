"""The 3D grid on the real samples in ../shared/data as external test sets (never copied here).

tests/integration/config.real3d.yaml (the documented real-data 3D grid) with absolute roots, one
organ of the TotalSegmentator CT and resnet_seg only: the model trained on synthetic_ct (fold 0)
predicts every slice of the msam-demo crop, the TotalSegmentator liver and the BraTS FLAIR volume,
scored in 3D (mm) through Snakemake; nothing trains on a real volume.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, SHARED_DATA
from tests.integration.test_dryrun import run_grid

SHARED = SHARED_DATA.resolve()
SAMPLES = ("msam-demo", "totalseg-example", "sammed3d-brats-sample")
EXTERNAL = {"msam_demo": ("lung_tumour", (128, 128, 128), 0),  # 5-D file squeezed to 3-D
            "totalseg_ct__liver": ("ct", (122, 101, 30), 5),  # TotalSegmentator liver id
            "brats_edema": ("edema__mr_flair_BraTS2021__BraTS2021_01646", (160, 160, 104), 0)}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all((SHARED / s).is_dir() for s in SAMPLES),
                       reason=f"real 3D samples {SAMPLES} not found under {SHARED}"),
]


def real3d_config() -> dict:
    """config.real3d.yaml with absolute roots, the liver only and resnet_seg only."""
    config = yaml.safe_load((REPO / "tests" / "integration" / "config.real3d.yaml").read_text())
    for entry in config["datasets"].values():
        entry["root"] = entry["root"].replace("../shared/data", str(SHARED))
    config["datasets"]["totalseg_ct"]["organs"] = ["liver"]
    config["methods"] = {"resnet_seg": config["methods"]["resnet_seg"]}
    return config


@pytest.fixture(scope="module")
def real3d_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_grid(tmp_path_factory.mktemp("real3d_grid"), real3d_config())


def test_every_real_volume_is_scored_in_3d_by_the_synthetic_ct_model(real3d_run: Path) -> None:
    metrics = pd.read_csv(real3d_run / "results" / "summary" / "metrics.csv")
    external = metrics[metrics["dataset"].isin(list(EXTERNAL))]
    assert sorted(zip(external["dataset"], external["case_id"], external["label"],
                      strict=True)) == sorted((d, c, lab) for d, (c, _, lab) in EXTERNAL.items())
    assert (external["status"] == "ok").all() and (external["distance_unit"] == "mm").all()
    assert (external["trained_on"] == "synthetic_ct").all()
    assert set(metrics.loc[metrics["dataset"] == "synthetic_ct", "trained_on"]) == {"synthetic_ct"}
    for dataset, (case_id, shape, _) in EXTERNAL.items():
        cell = next((real3d_run / "results" / "runs").glob(f"dataset={dataset}/*/*/*/*/*"))
        with np.load(cell / "predict" / "predictions.npz") as npz:
            assert npz[case_id].shape == shape and npz[case_id].dtype == bool


def test_only_the_source_trains_and_every_job_records_time_and_rss(real3d_run: Path) -> None:
    runs = real3d_run / "results" / "runs"
    assert [p.relative_to(runs).parts[0] for p in runs.glob("*/*/*/*/*/*/train/model.pt")] == [
        "dataset=synthetic_ct"]
    split = yaml.safe_load((real3d_run / "results/splits/dataset=msam_demo/split.json").read_text())
    assert (split["scheme"], split["train_from"]) == ("external_test", "synthetic_ct")
    jobs = pd.read_csv(real3d_run / "results" / "summary" / "jobs.csv")
    stages = jobs.groupby(jobs["cell"].str.split("/").str[0])["stage"].agg(sorted).to_dict()
    assert stages["dataset=synthetic_ct"] == ["evaluate", "predict", "train"]
    assert all(stages[f"dataset={d}"] == ["evaluate", "predict"] for d in EXTERNAL)
    assert (jobs["seconds"] > 0).all() and (jobs["max_rss_mb"] > 0).all()


def test_report_shows_trained_on_and_the_organ_rows(real3d_run: Path) -> None:
    html = (real3d_run / "results" / "report" / "report.html").read_text()
    assert "trained_on" in html and "Per organ" in html
    summary = pd.read_csv(real3d_run / "results" / "summary" / "summary.csv")
    organ = summary[summary["dataset"] == "totalseg_ct"]
    assert list(organ["organ"]) == ["mean"] and list(organ["trained_on"]) == ["synthetic_ct"]
