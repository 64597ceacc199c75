"""External test sets (`train_from:`): config validation, grid cells and skips, the all-test split,
`trained_on` in rows and the report, and the per-organ report table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks.data import splits
from benchmarks.data.base import CaseRef, DataError
from benchmarks.data.loaders import nifti_pairs
from benchmarks.report import organs
from benchmarks.runs import config, grid
from benchmarks.stages import evaluate


def _config(**external: dict) -> dict:
    datasets = {"synthetic_ct": {"loader": "synthetic_ct", "generate": "ct"},
                "synthetic_bus": {"loader": "synthetic_bus", "generate": "bus"},
                "real_ct": {"loader": "nifti_pairs", "train_from": "synthetic_ct",
                            "organs": ["liver", "spleen"]}}
    return {"datasets": {**datasets, **external}, "folds": [0, 1], "seeds": [0],
            "methods": {"resnet_seg": {"backbones": ["resnet18"]},
                        "ultra_refiner": {"backbones": ["vit_b"]}}}


def test_external_cells_use_the_train_from_dataset_and_keep_skip_reasons() -> None:
    cfg = _config(bus_copy={"loader": "synthetic_bus", "train_from": "synthetic_bus"})
    expanded = {**cfg, "datasets": grid.organ_datasets(cfg["datasets"])}
    assert grid.train_sources(expanded) == {"real_ct__liver": "synthetic_ct",
                                            "real_ct__spleen": "synthetic_ct",
                                            "bus_copy": "synthetic_bus"}
    assert "train_from=synthetic_ct" in grid.dataset_overrides(expanded, "real_ct__liver")
    runs, skipped = grid.expand(cfg)
    ran = {(r.dataset, r.method, r.fold) for r in runs}
    assert {("real_ct__liver", "resnet_seg", 0), ("real_ct__liver", "resnet_seg", 1),
            ("bus_copy", "resnet_seg", 0)} <= ran
    reasons = {(r.dataset, r.method): why for r, why in skipped}
    # ultra_refiner is 2D: skipped on the 3D set for its own reason ...
    assert reasons["real_ct__liver", "ultra_refiner"].startswith("ultra_refiner supports ['2d']")
    # ... and on the 2D external set because its earlier phases are not mapped to external sets
    assert "several training phases" in reasons["bus_copy", "ultra_refiner"]


def test_source_of_other_dims_is_an_error_and_a_skipped_source_skips_its_external_cell() -> None:
    cfg = _config(bus_copy={"loader": "synthetic_bus", "train_from": "synthetic_bus",
                            "overrides": ["dataset.dims=3d"]})  # a 3D set trained from 2D
    with pytest.raises(grid.GridError, match=r"datasets.bus_copy.train_from: bus_copy is 3d "
                                             r"but synthetic_bus is 2d; train from a 3d dataset"):
        grid.expand(cfg)
    why = grid.external_skip_reason("resnet_seg", "src", "resnet_seg takes no prompts")
    assert why == "external test set trained on src, where: resnet_seg takes no prompts"
    assert grid.external_skip_reason("resnet_seg", "src", None) is None


@pytest.mark.parametrize("train_from, message", [
    ("nope", r"datasets.ext.train_from: unknown dataset 'nope'; name the entry"),
    ("ext", r"datasets.ext.train_from: a set cannot train its own test models"),
    ("real_ct", r"datasets.ext.train_from: real_ct is a multi-organ entry without the organ"),
    ("chain", r"datasets.ext.train_from: chain is itself an external test set \(train_from: "
              r"synthetic_ct\); point train_from to the dataset where the models are trained"),
], ids=["unknown", "itself", "organ_missing", "chain"])
def test_bad_train_from_is_a_clear_error(train_from: str, message: str) -> None:
    cfg = _config(ext={"loader": "synthetic_ct", "train_from": train_from},
                  chain={"loader": "synthetic_ct", "train_from": "synthetic_ct"})
    with pytest.raises(grid.GridError, match=message):
        grid.expand(cfg)


def _refs(n: int) -> list[CaseRef]:
    return [CaseRef(f"c{i}", f"p{i}", "img", ("lab",)) for i in range(n)]


def test_external_split_has_no_training_part_whatever_the_fold(tmp_path: Path) -> None:
    split = splits.make_split("real_ct", _refs(1), 0, 0, train_from="synthetic_ct")
    assert (split["scheme"], split["train_from"]) == ("external_test", "synthetic_ct")
    for fold in (0, 4):  # the fold picks the source's model; every case stays test
        assert splits.select(split, fold, "test") == ["c0"]
        assert splits.select(split, fold, "train") == []
    sha = splits.write_split(tmp_path / "split.json", split)
    assert splits.read_split(tmp_path / "split.json") == (split, sha)
    with pytest.raises(splits.SplitError, match="no usable cases"):
        splits.make_split("real_ct", [], 0, 0, train_from="synthetic_ct")


def test_trained_on_names_the_source_and_zero_shot_none() -> None:
    cfg = config.compose_run(["dataset=synthetic_ct", "dataset_id=real"], with_method=False)
    external = {"scheme": "external_test", "train_from": "synthetic_ct"}
    assert evaluate.trained_on(cfg, external, {"trainer": "harness"}) == "synthetic_ct"
    assert evaluate.trained_on(cfg, {"scheme": "kfold"}, {"trainer": "harness"}) == "real"
    assert evaluate.trained_on(cfg, external, {"trainer": "none"}) == "none"


def test_nifti_pairs_lists_pairs_and_dict_overrides_compose(tmp_path: Path) -> None:
    cfg = config.compose_run(["dataset=nifti_pairs", "dataset_id=x", f"dataset.root={tmp_path}",
                              "dataset.pairs={b:[img.nii.gz,seg.nii.gz],a:[i.nii,s.nii]}",
                              "dataset.label_names={liver:5}", "dataset.organ=liver"],
                             with_method=False)
    loader, dcfg = config.dataset_config(cfg)
    refs = loader.list_cases(dcfg)
    assert [(r.case_id, r.image, r.masks, r.subset) for r in refs] == [
        ("a", str(tmp_path / "i.nii"), (str(tmp_path / "s.nii"),), "liver"),
        ("b", str(tmp_path / "img.nii.gz"), (str(tmp_path / "seg.nii.gz"),), "liver")]
    with pytest.raises(config.ConfigError, match="labl"):  # dataclass fields stay strict
        config.compose_run(["dataset=nifti_pairs", "dataset_id=x", "dataset.labl=3"],
                           with_method=False)
    with pytest.raises(DataError, match=r"dataset.pairs.a=\['only'\]: .* exactly \[image, label\]"):
        nifti_pairs.list_cases(nifti_pairs.Config(root=str(tmp_path), pairs={"a": ["only"]}))
    with pytest.raises(DataError, match="dataset.pairs is empty"):
        nifti_pairs.list_cases(nifti_pairs.Config(root=str(tmp_path)))


def test_report_table_lists_organs_then_their_mean() -> None:
    summary = pd.DataFrame({
        "dataset": ["tct__spleen", "tct__liver", "tct", "other"],
        "organ": ["spleen", "liver", "mean", ""], "method": ["m"] * 4, "backbone": ["b"] * 4,
        "prompt": ["none"] * 4, "trained_on": ["syn"] * 4, "n_cases": [1, 1, 1, 5],
        "dice_mean": [0.2, 0.6, 0.4, 0.9], "hd95_mean": [3.0, 1.0, 2.0, 0.5],
        "distance_unit": ["mm"] * 4})
    table = organs.organ_table(summary)
    assert list(zip(table["dataset"], table["organ"], table["dice_mean"], strict=True)) == [
        ("tct", "liver", 0.6), ("tct", "spleen", 0.2), ("tct", "mean", 0.4)]
    html = organs.section(summary)
    assert "trained_on" in html and html.index("spleen") < html.index(">mean<")


def test_a_reoriented_lps_volume_loads_as_one_plain_array(tmp_path: Path) -> None:
    import nibabel as nib
    import numpy as np
    import torch

    from benchmarks.data.base import read_nifti_pair

    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0])  # msam-demo and the TotalSegmentator MR are LPS
    nib.save(nib.Nifti1Image(data, lps), str(tmp_path / "img.nii.gz"))
    nib.save(nib.Nifti1Image((data > 10).astype(np.uint8), lps), str(tmp_path / "lab.nii.gz"))
    image, labels, _ = read_nifti_pair(str(tmp_path / "img.nii.gz"), str(tmp_path / "lab.nii.gz"))
    assert (image == data[::-1, ::-1, :]).all() and all(s > 0 for s in image.strides)
    assert torch.from_numpy(image).shape == (2, 3, 4)  # negative strides would raise here
    assert (labels == (data[::-1, ::-1, :] > 10)).all()
