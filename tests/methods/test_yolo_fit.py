"""YOLO trains through ultralytics' own trainer (`fit`) under the harness's budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.core import registry
from benchmarks.data import batches, splits
from benchmarks.data.base import Sample
from benchmarks.runs import config
from benchmarks.stages import cases, train
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
    batches.seed_everything(0)
    model = module.build(mcfg, None)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    samples = data.training_samples(data.case_ids(0, "train"), mcfg, 0)
    trained, log = module.fit(model, TrainData(samples, tmp_path, 0), mcfg, Budget(0, 1))
    assert len(log) == 1 and np.isfinite(log["loss"]).all()
    changed = [k for k, v in trained.state_dict().items() if not torch.equal(v, before[k])]
    assert changed
    assert (tmp_path / "dataset" / "labels" / "train").is_dir()


def _stems(folder: Path) -> set[str]:
    return {p.stem for p in folder.iterdir()}


def test_dataset_folder_holds_exactly_the_given_samples(tmp_path: Path) -> None:
    """Issue 9 item 1: a second materialisation must not keep the first one's images."""
    def sample(case_id: str) -> Sample:
        mask = np.zeros((16, 16), bool)
        mask[4:10, 4:10] = True
        return Sample(case_id, np.full((16, 16, 3), 100, np.uint8), mask, None)

    fit_data.write_dataset([sample("a"), sample("b"), sample("c")], tmp_path / "dataset")
    fit_data.write_dataset([sample("c"), sample("d")], tmp_path / "dataset")
    assert _stems(tmp_path / "dataset" / "images" / "train") == {"c", "d"}
    assert _stems(tmp_path / "dataset" / "labels" / "train") == {"c", "d"}


def test_retrain_with_changed_split_trains_on_its_training_cases_only(
        bus_root: Path, bus_split: Path, tmp_path: Path) -> None:
    """Issue 9 item 1: retraining a cell in place after the split changed (3 -> 2 folds) trains on
    exactly the new split's training cases; no test case of the new fold is in the image folder."""
    split2 = tmp_path / "split2.json"
    data_cfg = config.compose_run(
        ["dataset=synthetic_bus", "dataset_id=synthetic_bus", f"dataset.root={bus_root}",
         "dataset.n_folds=2"], with_method=False)
    splits.write_for(*config.dataset_config(data_cfg), "synthetic_bus", split2)
    out = tmp_path / "train"
    for split in (bus_split, split2):
        overrides = [o if not o.startswith("split_file=") else f"split_file={split}"
                     for o in run_overrides("yolo_seg", bus_root, bus_split, "method.backbone=n",
                                            "method.augment=false", "method.max_epochs=1")]
        info = train.run(config.compose_run(overrides), out)
    split_doc, _ = splits.read_split(split2)
    expected = set(splits.select(split_doc, 0, "train"))
    assert _stems(out / "fit_work" / "dataset" / "images" / "train") == expected
    assert not expected & set(splits.select(split_doc, 0, "test"))
    assert info["n_train_cases"] == len(expected)
    assert len(pd.read_csv(out / "train_log.csv")) == 1  # one epoch, not the earlier run's too


def test_predict_keeps_the_jobs_thread_count() -> None:
    """ultralytics' select_device sets torch's threads to min(8, cpu_count - 1) of the node;
    the harness's count (the job's allocation) must survive a predict call."""
    import torch

    from methods.yolo_seg import method

    cfg = method.Config(variant="tiny", backbone="n", image_size=64)
    model = method.build(cfg, None).eval()
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # neither 1 (2-core CI) nor 8: what no node default gives
    try:
        with torch.no_grad():
            method.predict(model, {"image": torch.rand(1, 3, 64, 64), "meta": [{}]}, cfg)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_default_optimizer_is_ultralytics_auto_and_its_choice_is_recorded(
        bus_root: Path, bus_split: Path, tmp_path: Path) -> None:
    """Issue 21 item 7: the card says ultralytics' defaults, so Config leaves the optimiser to
    ultralytics' optimizer=auto (a short run: AdamW at lr0 = 0.002 * 5 / (4 + 1 class)); the
    train log records what it chose."""
    from methods.yolo_seg import method

    assert method.Config().optimizer == "auto"
    cfg = config.compose_run(run_overrides("yolo_seg", bus_root, bus_split, "method.backbone=n",
                                           "method.augment=false", "method.max_epochs=1"))
    train.run(cfg, tmp_path)
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert log["optimizer"].tolist() == ["AdamW"]
    assert log["lr0"].tolist() == [round(0.002 * 5 / (4 + 1), 6)]
