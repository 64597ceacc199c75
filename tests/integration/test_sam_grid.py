"""The SAM-family image methods through Snakemake on the real BUS-BRA sample, one grid.

Zero-shot SAM, zero-shot MedSAM and zero-shot SAM2 (box protocol), SMA (box-prompted decoder,
4 steps) and ESAM2-BLS (unprompted, 4 steps): tiny CPU variants at 128 px, random init, on the
official fold 0 of ../shared/data/busbra (never copied here), down to per-case metrics, provenance
and the report.
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
TINY = ["method.variant=tiny", "method.image_size=128"]
TRAINED = [*TINY, "method.max_steps=4", "method.batch_size=2"]
METHODS = {
    "sam_zeroshot": {"backbones": ["tiny"], "overrides": TINY, "resources": CPU},
    "medsam_zeroshot": {"backbones": ["tiny"], "overrides": TINY, "resources": CPU},
    "sam2_zeroshot": {"backbones": ["hiera_t"], "overrides": TINY, "resources": CPU},
    "sma": {"backbones": ["tiny"], "overrides": TRAINED, "resources": CPU},
    "esam2_bls": {"backbones": ["hiera_t"], "overrides": TRAINED, "resources": CPU},
}
ZERO_SHOT = {"sam_zeroshot", "medsam_zeroshot", "sam2_zeroshot"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SHARED / "busbra").is_dir(),
                       reason=f"real dataset sample busbra not found under {SHARED}"),
]


def grid() -> dict:
    return {
        "paths": {"data_root": ".", "checkpoints": "checkpoints"},
        "datasets": {"busbra": {"loader": "busbra", "root": str(SHARED / "busbra" / "BUSBRA"),
                                "overrides": ["dataset.fold_scheme=official",
                                              "dataset.n_folds=5"]}},
        "methods": METHODS,
        "prompts": ["box"],
        "folds": [0],
        "seeds": [0],
    }


@pytest.fixture(scope="module")
def sam_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("sam_grid")
    return run_grid(workdir, grid())


def test_every_method_is_scored_per_case(sam_run: Path) -> None:
    metrics = pd.read_csv(sam_run / "results" / "summary" / "metrics.csv")
    official = pd.read_csv(SHARED / "busbra" / "BUSBRA" / "5-fold-cv.csv")
    expected = set(official.loc[official["kFold"] == 1, "ID"])  # 14 of the 61 images
    assert set(metrics["method"]) == set(METHODS)
    for method, group in metrics.groupby("method"):
        assert set(group["case_id"]) == expected, method
        assert (group["status"] == "ok").all(), method
        assert group["dice"].between(0, 1).all(), method
    prompts = metrics.groupby("method")["prompt"].unique().map(list).to_dict()
    assert prompts["esam2_bls"] == ["none"]
    assert all(prompts[m] == ["box"] for m in METHODS if m != "esam2_bls")
    assert (metrics["weights"] == "random_init").all()


def test_zero_shot_rows_are_marked_and_untrained(sam_run: Path) -> None:
    summary = pd.read_csv(sam_run / "results" / "summary" / "summary.csv").set_index("method")
    for method in METHODS:
        assert summary.loc[method, "training"] == ("zero_shot" if method in ZERO_SHOT
                                                   else "trained"), method
    runs = sam_run / "results" / "runs" / "dataset=busbra"
    for method in ("sma", "esam2_bls"):
        log = pd.read_csv(next(runs.glob(f"method={method}/**/train/train_log.csv")))
        assert len(log) == 4 and log["loss"].notna().all(), method
        prov = json.loads(next(runs.glob(f"method={method}/**/train/provenance.json")).read_text())
        assert 0 < prov["params_trainable"] < prov["params_total"], method  # encoders frozen
    report = (sam_run / "results" / "report" / "report.html").read_text()
    assert "Zero-shot references" in report and "sam2_zeroshot" in report
