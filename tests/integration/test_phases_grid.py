"""Multi-phase methods in the grid (UltraRefiner): three chained train jobs per cell, the coarse
and refined outputs both scored, and a rerun of the last phase alone.

The real run uses the BUS-BRA sample in ../shared/data (never copied here) with the tiny CPU
variant and a few steps per phase.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SHARED_DATA
from tests.integration.test_dryrun import job_counts, run_grid, snakemake

SHARED = SHARED_DATA.resolve()
TINY = {"backbones": ["vit_b"],
        "overrides": ["method.variant=tiny", "method.image_size=64", "method.coarse_steps=4",
                      "method.refiner_steps=4", "method.joint_steps=4", "method.coarse_batch=2",
                      "method.refiner_batch=2", "method.joint_batch=2"],
        "resources": {"train": {"gpu": 0, "runtime_min": 20, "mem_gb": 3},
                      "predict": {"gpu": 0, "runtime_min": 10, "mem_gb": 2}}}
SYNTHETIC = {"datasets": {"synthetic_bus": {"loader": "synthetic_bus", "generate": "bus",
                                            "root": "results/data/synthetic_bus"}},
             "methods": {"ultra_refiner": TINY, "resnet_seg": {"backbones": ["resnet18"]}},
             "folds": [0, 1], "seeds": [0]}


def test_dry_run_chains_three_phases_per_cell(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, SYNTHETIC, "-n", "--cores", "1")
    assert proc.returncode == 0, proc.stderr
    counts = job_counts(proc.stdout)
    # 2 folds: ultra_refiner trains coarse and refiner as phase jobs and joint as the cell's model
    assert counts["train_phase"] == 4 and counts["train_model"] == 4
    # Phase 2's out-of-fold Phase-1 masks: a coarse model per training half, predicting the other
    assert counts["train_oof"] == counts["predict_oof"] == 4
    assert counts["predict_phase"] == counts["evaluate_phase"] == 2  # coarse scored, refiner not
    assert counts["predict_cases"] == counts["evaluate_predictions"] == 4


@pytest.fixture(scope="module")
def refiner_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (SHARED / "busbra").is_dir():
        pytest.skip(f"real dataset sample busbra not found under {SHARED}")
    workdir = tmp_path_factory.mktemp("refiner_grid")
    config = {"datasets": {"busbra": {
        "loader": "busbra", "root": str(SHARED / "busbra" / "BUSBRA"),
        "overrides": ["dataset.fold_scheme=official", "dataset.n_folds=5"]}},
        "methods": {"ultra_refiner": TINY}, "folds": [0], "seeds": [0]}
    run_grid(workdir, config)
    (workdir / "grid.yaml").write_text(json.dumps(config))
    return workdir


@pytest.mark.slow
def test_coarse_and_refined_are_scored_per_case(refiner_run: Path) -> None:
    metrics = pd.read_csv(refiner_run / "results" / "summary" / "metrics.csv")
    by_method = {m: set(g["case_id"]) for m, g in metrics.groupby("method")}
    official = pd.read_csv(SHARED / "busbra" / "BUSBRA" / "5-fold-cv.csv")
    expected = set(official.loc[official["kFold"] == 1, "ID"])
    assert by_method == {"ultra_refiner": expected, "ultra_refiner:coarse": expected}
    assert metrics["hd95"].notna().all() and set(metrics["status"]) == {"ok"}
    assert set(metrics["prompt_variant"]) == {"head"} and set(metrics["mask_style"]) == {"gaussian"}
    report = (refiner_run / "results" / "report" / "report.html").read_text()
    assert "Refinement gain" in report


@pytest.mark.slow
def test_each_phase_starts_from_the_previous_one(refiner_run: Path) -> None:
    from benchmarks.core.weights import sha256_file

    cell = next((refiner_run / "results" / "runs").glob("dataset=busbra/*/*/*/fold=0/seed=0"))
    coarse, refiner = (cell / f"phase={p}" / "train" for p in ("coarse", "refiner"))
    prov = {name: json.loads((path / "provenance.json").read_text())
            for name, path in (("coarse", coarse), ("refiner", refiner), ("joint", cell / "train"))}
    assert prov["coarse"]["init_sha256"] is None
    assert prov["refiner"]["init_sha256"] == sha256_file(coarse / "model.pt")
    assert prov["joint"]["init_sha256"] == sha256_file(refiner / "model.pt")
    assert [prov[p]["phase"] for p in ("coarse", "refiner", "joint")] == [
        "coarse", "refiner", "joint"]


@pytest.mark.slow
def test_phase_two_trained_on_masks_of_models_that_never_saw_them(refiner_run: Path) -> None:
    from benchmarks.core.weights import sha256_file
    from benchmarks.data import oof, splits

    cell = next((refiner_run / "results" / "runs").glob("dataset=busbra/*/*/*/fold=0/seed=0"))
    split, _ = splits.read_split(next((refiner_run / "results" / "splits").rglob("split.json")))
    sources = json.loads((cell / "phase=refiner" / "train" / "provenance.json").read_text())["oof"]
    assert sources["ratio"] == 0.5 and sources["n_cases"] == len(splits.select(split, 0, "train"))
    for half, source in enumerate(sources["sources"]):
        half_dir = cell / "phase=coarse" / f"half={half}"
        assert source["model_sha256"] == sha256_file(half_dir / "train" / "model.pt")
        record = json.loads((half_dir / "predict" / oof.OOF_FILE).read_text())
        assert record["predicted"] == splits.select(split, 0, f"train_half{1 - half}")
        assert not set(record["predicted"]) & set(splits.select(split, 0, f"train_half{half}"))
    log = pd.read_csv(cell / "phase=refiner" / "train" / "train_log.csv")
    assert "oof_share" in log and log["oof_share"].between(0, 1).all()


@pytest.mark.slow
def test_rerunning_the_last_phase_keeps_the_earlier_ones(refiner_run: Path) -> None:
    config = json.loads((refiner_run / "grid.yaml").read_text())
    proc = snakemake(refiner_run, config, "-n", "--cores", "2", "--forcerun", "train_model")
    assert proc.returncode == 0, proc.stderr
    counts = job_counts(proc.stdout)
    assert counts["train_model"] == 1 and counts["predict_cases"] == 1
    assert not {"train_phase", "predict_phase", "train_oof", "predict_oof"} & set(counts)
