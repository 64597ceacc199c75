"""Out-of-fold Phase-1 masks for UltraRefiner's Phase 2 (benchmarks/data/oof.py), through the real
harness on the synthetic set: two half models, each predicting the half it did not see, and a
Phase-2 run that trains on them. Tiny sizes, 2 steps per model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks.core import weights
from benchmarks.data import oof, splits
from benchmarks.runs import config
from benchmarks.stages import cases, predict, train
from methods.ultra_refiner import method as ultra
from tests.conftest import run_overrides

STEPS = ["method.coarse_steps=2", "method.refiner_steps=4", "method.coarse_batch=2",
         "method.refiner_batch=2", "device=cpu"]


def _cfg(bus_root: Path, bus_split: Path, phase: str, *extra: str):
    return config.compose_run(run_overrides("ultra_refiner", bus_root, bus_split, *STEPS,
                                            f"method.phase={phase}", *extra))


@pytest.fixture(scope="module")
def halves(bus_root: Path, bus_split: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<tmp>/half=<h>/{train,predict}: Phase-1 models of each training half of fold 0 and their
    out-of-fold predictions of the other half."""
    root = tmp_path_factory.mktemp("oof")
    cfg = _cfg(bus_root, bus_split, "coarse")
    for half in (0, 1):
        out = root / f"half={half}"
        train.run(cfg, out / "train", part=f"train_half{half}")
        predict.run(cfg, out / "train" / "model.pt", out / "predict", f"train_half{1 - half}")
    return root


def test_halves_are_patient_disjoint_and_cover_the_training_split(bus_split: Path) -> None:
    split, _ = splits.read_split(bus_split)
    train_ids = splits.select(split, 0, "train")
    half0, half1 = (splits.select(split, 0, f"train_half{h}") for h in (0, 1))
    assert sorted(half0 + half1) == train_ids and not set(half0) & set(half1)
    patients = [{split["cases"][c]["patient"] for c in ids} for ids in (half0, half1)]
    assert not patients[0] & patients[1] and all(patients)


def test_no_training_case_gets_a_mask_from_a_model_that_trained_on_it(
        halves: Path, bus_root: Path, bus_split: Path) -> None:
    """Each out-of-fold mask is traced to the model file that made it (sha256 in oof.json) and
    that model's own record of its training part: never the predicted case's."""
    split, _ = splits.read_split(bus_split)
    train_ids = splits.select(split, 0, "train")
    covered = {}
    for half in (0, 1):
        model = halves / f"half={half}" / "train" / "model.pt"
        trained_on = set(splits.select(
            split, 0, json.loads(model.with_name("provenance.json").read_text())["train_part"]))
        record = json.loads((halves / f"half={half}" / "predict" / oof.OOF_FILE).read_text())
        assert record["model_sha256"] == weights.sha256_file(model)
        with np.load(halves / f"half={half}" / "predict" / "predictions.npz") as masks:
            assert set(masks.files) == set(record["predicted"])
            assert len(masks.files) > 0 and not set(masks.files) & trained_on
            covered |= {cid: masks[cid] for cid in masks.files}
            assert all(masks[c].dtype == np.float16 for c in masks.files)  # soft, not thresholded
    assert sorted(covered) == train_ids


def test_predicting_own_training_cases_is_refused(halves: Path, bus_root: Path, bus_split: Path,
                                                  tmp_path: Path) -> None:
    cfg = _cfg(bus_root, bus_split, "coarse")
    with pytest.raises(oof.OOFError, match="its own training cases"):
        predict.run(cfg, halves / "half=0" / "train" / "model.pt", tmp_path, "train_half0")
    full = tmp_path / "full"
    train.run(cfg, full)  # trained on the whole training split: no half is out of fold for it
    with pytest.raises(oof.OOFError, match="its own training cases"):
        predict.run(cfg, full / "model.pt", tmp_path / "pred", "train_half1")


def test_load_refuses_a_missing_half_and_another_split(halves: Path, bus_split: Path) -> None:
    split, sha = splits.read_split(bus_split)
    train_ids = splits.select(split, 0, "train")
    one = [halves / "half=0" / "predict" / "predictions.npz"]
    with pytest.raises(oof.OOFError, match="no out-of-fold mask"):
        oof.load(one, train_ids, sha)
    with pytest.raises(oof.OOFError, match="another split|made on split"):
        oof.load(one, train_ids, "0" * 64)
    with pytest.raises(oof.OOFError, match="already have"):
        oof.load(one + one, train_ids, sha)


def test_batches_carry_the_masks_flipped_with_their_images(bus_root: Path, bus_split: Path
                                                           ) -> None:
    cfg = _cfg(bus_root, bus_split, "refiner")
    data = cases.open_run(cfg)
    ids = data.case_ids(0, "train")
    coarse = {cid: data.load(cid).mask.astype(np.float32) * 0.8 for cid in ids}  # mask-shaped
    mcfg = train.for_phase(ultra, config.method_cfg(cfg))
    gen = torch.Generator().manual_seed(0)
    stream = train._batches(data, ids, mcfg, gen, 0, coarse)
    for _ in range(6):  # random flips: a mask left unflipped would miss the flipped lesion
        batch = next(stream)
        agree = ((batch["coarse"] > 0.4) == batch["mask"].bool()).float().mean()
        assert batch["coarse"].shape == batch["mask"].shape and float(agree) > 0.97
        assert float(batch["coarse"].max()) == pytest.approx(0.8)


def test_phase_two_trains_on_both_halves(halves: Path, bus_root: Path, bus_split: Path,
                                         tmp_path: Path) -> None:
    cfg = _cfg(bus_root, bus_split, "refiner")
    npz = [halves / f"half={h}" / "predict" / "predictions.npz" for h in (0, 1)]
    info = train.run(cfg, tmp_path, coarse_masks=npz)
    assert info["oof"]["ratio"] == 0.5 and info["oof"]["scheme"] == "halves"
    assert [s["train_part"] for s in info["oof"]["sources"]] == ["train_half0", "train_half1"]
    assert info["oof"]["n_cases"] == info["n_train_cases"] == 8
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert len(log) == 4 and 0 < log["oof_share"].mean() < 1  # both kinds of coarse mask seen
    with pytest.raises(ValueError, match="needs out-of-fold Phase-1 masks"):
        train.run(cfg, tmp_path / "without")
