"""Organs as a grid axis: one multi-organ entry -> one binary task per organ, rows per (case,
organ) with the right label, an absent organ scored by the empty policy, a mean over organs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.core.io import write_table
from benchmarks.data import splits
from benchmarks.runs import config, grid
from benchmarks.stages import aggregate, cases, evaluate

ORGANS = {"spleen": 1, "liver": 6}  # BTCV ids (nnunet3d.BTCV_LABELS)


@pytest.fixture(scope="module")
def btcv_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two BTCV-style label maps; case img0002 has no spleen."""
    import nibabel as nib

    root = tmp_path_factory.mktemp("btcv")
    (root / "imagesTr").mkdir()
    (root / "labelsTr").mkdir()
    for i, organs in ((1, ("spleen", "liver")), (2, ("liver",))):
        labels = np.zeros((8, 8, 4), np.uint8)
        if "spleen" in organs:
            labels[1:3, 1:3, 1:3] = ORGANS["spleen"]
        labels[4:7, 4:7, 0:3] = ORGANS["liver"]
        image = np.where(labels > 0, 100.0, 0.0).astype(np.float32)
        affine = np.diag([0.8, 0.8, 2.5, 1.0])
        nib.save(nib.Nifti1Image(image, affine), str(root / "imagesTr" / f"img{i:04d}_0000.nii.gz"))
        nib.save(nib.Nifti1Image(labels, affine), str(root / "labelsTr" / f"img{i:04d}.nii.gz"))
    labels = {"background": 0, "spleen": 1, "liver": 6}
    (root / "dataset.json").write_text(json.dumps({"labels": labels}))
    return root


def _config(root: Path) -> dict:
    return {"paths": {"data_root": "."}, "folds": [0, 1], "seeds": [0],
            "datasets": {"btcv": {"loader": "nnunet3d", "root": str(root),
                                  "organs": list(ORGANS),
                                  "overrides": ["dataset.n_folds=2"]}},
            "methods": {"resnet_seg": {"backbones": ["resnet18"]}}}


def test_organs_expand_into_one_dataset_per_organ(btcv_root: Path) -> None:
    runs, skipped = grid.expand(_config(btcv_root))
    assert skipped == []
    assert sorted({r.dataset for r in runs}) == ["btcv__liver", "btcv__spleen"]
    expanded = grid.organ_datasets(_config(btcv_root)["datasets"])
    assert expanded["btcv__liver"]["overrides"][-1] == "dataset.organ=liver"
    bad = _config(btcv_root)
    bad["datasets"] = {"synthetic_ct": {"organs": ["liver"]}}
    with pytest.raises(grid.GridError, match="no `organ` field"):
        grid.expand(bad)


def _score_organ(cfg_dict: dict, dataset_id: str, tmp: Path) -> pd.DataFrame:
    """Every fold of one organ scored against a perfect prediction (the reference itself)."""
    tables = []
    for fold in (0, 1):
        run = grid.Run(dataset_id, "resnet_seg", "resnet18", fold, 0)
        split = tmp / dataset_id / "split.json"
        if not split.exists():
            base = grid.dataset_overrides(cfg_dict, dataset_id)
            cfg = config.compose_run(base, with_method=False)
            splits.write_for(*config.dataset_config(cfg), dataset_id, split)
        cfg = config.compose_run([*grid.overrides_for(cfg_dict, run), f"split_file={split}"])
        data, out = cases.open_run(cfg), tmp / dataset_id / f"fold{fold}"
        out.mkdir(parents=True)
        ids = data.case_ids(fold, "test")
        np.savez_compressed(out / "predictions.npz", **{i: data.load(i).mask for i in ids})
        write_table(out / "cases.csv", pd.DataFrame(
            {"case_id": ids, "status": "ok", "message": "", "seconds": 0.0}))
        tables.append(evaluate.run(cfg, out, {"weights": "random_init"}, out / "metrics.csv"))
    return pd.concat(tables, ignore_index=True)


def test_one_row_per_case_and_organ_with_its_label_and_empty_policy(btcv_root: Path,
                                                                     tmp_path: Path) -> None:
    cfg_dict = {**_config(btcv_root)}
    cfg_dict["datasets"] = grid.organ_datasets(cfg_dict["datasets"])
    metrics = pd.concat([_score_organ(cfg_dict, f"btcv__{organ}", tmp_path) for organ in ORGANS],
                        ignore_index=True)
    assert len(metrics) == 2 * 2  # (img0001, img0002) x (spleen, liver)
    assert sorted(zip(metrics["case_id"], metrics["organ"], metrics["label"], strict=True)) == [
        ("img0001", "liver", 6), ("img0001", "spleen", 1),
        ("img0002", "liver", 6), ("img0002", "spleen", 1)]
    absent = metrics[(metrics["case_id"] == "img0002") & (metrics["organ"] == "spleen")].iloc[0]
    assert absent["status"] == "ok" and bool(absent["empty_ref"])  # kept, not dropped
    assert absent["dice"] == 1.0 and absent["hd95"] == 0.0  # both empty -> overlap 1, dist 0
    assert (metrics["dice"] == 1.0).all()
    summary = aggregate.summarise(metrics)
    mean = summary[summary["organ"] == "mean"].iloc[0]
    assert mean["dataset"] == "btcv" and mean["n_organs"] == 2 and mean["dice_mean"] == 1.0
    assert sorted(summary.loc[summary["organ"] != "mean", "organ"]) == ["liver", "spleen"]
