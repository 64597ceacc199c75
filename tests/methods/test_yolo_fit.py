"""YOLO trains through ultralytics' own trainer (`fit`) under the harness's budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmarks import cases, config, registry, train
from methods._api import Budget, TrainData
from methods.yolo_seg import fit_data
from tests.conftest import run_overrides


def test_polygons_are_normalised_xy() -> None:
    mask = np.zeros((40, 80), bool)
    mask[10:20, 50:70] = True  # wide box on the right: x in [50, 70), y in [10, 20)
    (poly,) = fit_data.polygons(mask)
    assert poly[:, 0].min() >= 50 / 80 - 1e-9 and poly[:, 0].max() <= 70 / 80
    assert poly[:, 1].min() >= 10 / 40 - 1e-9 and poly[:, 1].max() <= 20 / 40


def test_fit_one_epoch_changes_weights_and_logs_loss(bus_root: Path, bus_split: Path,
                                                      tmp_path: Path) -> None:
    cfg = config.compose_run(run_overrides("yolo_seg", bus_root, bus_split, "method.backbone=n",
                                           "method.augment=false"))
    mcfg, module = config.method_cfg(cfg), registry.import_method("yolo_seg")
    data = cases.open_run(cfg)
    train.seed_everything(0)
    model = module.build(mcfg, None)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    samples = cases.iter_samples(data, data.case_ids(0, "train"))
    trained, log = module.fit(model, TrainData(samples, tmp_path, 0), mcfg, Budget(0, 1))
    assert len(log) == 1 and np.isfinite(log["loss"]).all()
    changed = [k for k, v in trained.state_dict().items() if not torch.equal(v, before[k])]
    assert changed
    assert (tmp_path / "dataset" / "labels" / "train").is_dir()
