"""Medical SAM2 (2D) through Snakemake on the real REFUGE and BUS-BRA samples, one grid.

Tiny CPU variant (Hiera-T, 64 px, random init), 4 training steps, one pinned positive click per
image (protocol ``pos1``), on the official test folds of ../shared/data/refuge-fundus-midss
(optic cup) and ../shared/data/busbra (never copied here), down to per-case metrics and
provenance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SHARED_DATA
from tests.integration.test_dryrun import run_grid

SHARED = SHARED_DATA.resolve()
CPU = {"train": {"gpu": 0, "runtime_min": 20, "mem_gb": 4},
       "predict": {"gpu": 0, "runtime_min": 10, "mem_gb": 4}}
STEPS = 4
METHOD = {"backbones": ["hiera_t"], "resources": CPU,
          "overrides": ["method.variant=tiny", "method.image_size=64", f"method.max_steps={STEPS}",
                        "method.batch_size=2"]}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SHARED / "busbra").is_dir()
                       or not (SHARED / "refuge-fundus-midss").is_dir(),
                       reason=f"samples busbra / refuge-fundus-midss not found under {SHARED}"),
]


def grid() -> dict:
    return {
        "paths": {"data_root": ".", "checkpoints": "checkpoints"},
        "datasets": {
            "busbra": {"loader": "busbra", "root": str(SHARED / "busbra" / "BUSBRA"),
                       "overrides": ["dataset.fold_scheme=official", "dataset.n_folds=5"]},
            "refuge": {"loader": "refuge", "root": str(SHARED / "refuge-fundus-midss"),
                       "overrides": ["dataset.fold_scheme=official", "dataset.n_folds=2",
                                     "dataset.target=cup"]},
        },
        "methods": {"medical_sam2": METHOD},
        "prompts": ["pos1"],
        "folds": [0],
        "seeds": [0],
    }


@pytest.fixture(scope="module")
def msam2_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_grid(tmp_path_factory.mktemp("medical_sam2_grid"), grid())


def test_both_sets_are_scored_per_case(msam2_run: Path) -> None:
    metrics = pd.read_csv(msam2_run / "results" / "summary" / "metrics.csv")
    official = pd.read_csv(SHARED / "busbra" / "BUSBRA" / "5-fold-cv.csv")
    expected = {"busbra": set(official.loc[official["kFold"] == 1, "ID"]),  # 14 of 61 images
                "refuge": {"d1_test_gdrishtiGS_001", "d2_test_G-2-R", "d3_test_g0001",
                           "d4_test_V0002"}}  # the release's test parts
    assert set(metrics["dataset"]) == set(expected)
    for dataset, group in metrics.groupby("dataset"):
        assert set(group["case_id"]) == expected[dataset], dataset
        assert (group["status"] == "ok").all() and group["dice"].between(0, 1).all(), dataset
    assert set(metrics["method"]) == {"medical_sam2"} and set(metrics["prompt"]) == {"pos1"}
    assert (metrics["weights"] == "random_init").all()


def test_training_logs_the_bank_and_trains_the_part_3_3_modules(msam2_run: Path) -> None:
    for dataset in ("busbra", "refuge"):
        runs = msam2_run / "results" / "runs" / f"dataset={dataset}"
        log = pd.read_csv(next(runs.glob("method=medical_sam2/**/train/train_log.csv")))
        assert len(log) == STEPS and log["loss"].notna().all(), dataset
        assert log["bank_size"].iloc[-1] > 0, dataset
        prov = json.loads(next(runs.glob("method=medical_sam2/**/train/provenance.json"))
                          .read_text())
        assert 0 < prov["params_trainable"] < prov["params_total"], dataset
