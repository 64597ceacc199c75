"""A 2D method on 3D data: trains on sampled slices, predicts every slice, is scored in 3D."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.data import splits
from benchmarks.runs import config
from benchmarks.stages import cases, evaluate, predict, train


@pytest.fixture(scope="module")
def ct_cell(ct_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    base = ["dataset=synthetic_ct", "dataset_id=synthetic_ct", f"dataset.root={ct_root}",
            "dataset.n_folds=3"]
    split = tmp_path_factory.mktemp("ct_split") / "split.json"
    splits.write_for(*config.dataset_config(config.compose_run(base, with_method=False)),
                     "synthetic_ct", split)
    overrides = [*base, "method=resnet_seg", f"split_file={split}", "method.variant=tiny",
                 "method.backbone=resnet18", "method.image_size=64", "method.batch_size=2",
                 "method.max_steps=2", "dataset.train_slices_per_volume=4"]
    out = tmp_path_factory.mktemp("ct_cell")
    cfg = config.compose_run(overrides)
    info = train.run(cfg, out)
    assert info["volumes"]["train_slices_per_volume"] == 4
    predict.run(cfg, out / "model.pt", out)
    evaluate.run(cfg, out, info, out / "metrics.csv")
    return overrides, out


def test_training_uses_sampled_slices_of_training_volumes_only(ct_cell) -> None:
    overrides, out = ct_cell
    cfg = config.compose_run(overrides)
    data = cases.open_run(cfg)
    train_ids = data.case_ids(0, "train")
    samples = list(data.training_samples(train_ids, config.method_cfg(cfg), 0))
    assert len(samples) == 4 * len(train_ids)
    assert {s.meta["volume_id"] for s in samples} == set(train_ids)  # no test volume
    assert all(s.image.shape[2] == 3 and s.image.dtype == np.uint8 for s in samples)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["volumes"]["intensity"] == "window [-160, 240] -> [0, 255]"


def test_prediction_is_a_volume_at_original_shape_scored_in_mm(ct_cell) -> None:
    overrides, out = ct_cell
    data = cases.open_run(config.compose_run(overrides))
    test_ids = data.case_ids(0, "test")
    masks = evaluate.read_predictions(out / "predictions.npz")
    assert sorted(masks) == test_ids
    for case_id in test_ids:
        assert masks[case_id].shape == data.load(case_id).mask.shape  # (48, 48, 20)
    rows = evaluate.read_table(out / "metrics.csv")
    assert list(rows["case_id"]) == test_ids and (rows["status"] == "ok").all()
    assert (rows["distance_unit"] == "mm").all() and rows["dice"].between(0, 1).all()
