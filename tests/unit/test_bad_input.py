"""Bad files in native layouts (built in tmp_path): each is named in an error or recorded."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmarks.data import splits
from benchmarks.data.base import SKIP_KEY, DataError
from benchmarks.data.loaders import bus_uclm, busbra, busi, nnunet3d
from benchmarks.stages import check_data

GREEN = (0, 255, 0)


def _png(path: Path, size: tuple[int, int], mode: str = "RGB", fill=0, box=None) -> Path:
    """A PNG of ``size`` = (width, height) with an optional filled rectangle ``box`` (xyxy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new(mode, size, fill)
    if box is not None:
        colour = GREEN if mode == "RGB" else (255 if mode in ("L", "1") else (255, 255, 255, 255))
        img.paste(colour, box)
    img.save(path)
    return path


def _busi(root: Path) -> Path:
    for n in (1, 2):
        _png(root / "benign" / f"benign ({n}).png", (40, 30), "L", 90)
        _png(root / "benign" / f"benign ({n})_mask.png", (40, 30), "1", 0, (5, 5, 15, 15))
    return root


def _uclm(root: Path, names: list[str]) -> Path:
    (root / "INFO.csv").parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{n};40x30;Benign;No;No;No" for n in names]
    (root / "INFO.csv").write_text("Image;Resolution;Label;Doppler;Marks;Combined\n"
                                   + "\n".join(rows) + "\n")
    for n in names:
        _png(root / "images" / n, (40, 30), "RGB", (80, 80, 80))
        _png(root / "masks" / n, (40, 30), "RGB", 0, (10, 10, 20, 20))
    return root


def test_corrupt_png_is_named(tmp_path: Path) -> None:
    root = _busi(tmp_path / "BUSI")
    bad = root / "benign" / "benign (2).png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    cfg = busi.Config(root=str(root), classes=["benign"])
    with pytest.raises(DataError, match=r"benign \(2\)\.png: cannot decode image"):
        busi.load_case(busi.list_cases(cfg)[1], cfg)
    report = check_data.inspect(busi, cfg, "busi")
    assert report.counts["loaded"] == 1 and len(report.problems) == 1
    assert str(bad) in report.problems[0]


def test_missing_mask_file_is_named(tmp_path: Path) -> None:
    root = _busi(tmp_path / "BUSI")
    (root / "benign" / "benign (1)_mask.png").unlink()
    cfg = busi.Config(root=str(root), classes=["benign"])
    report = check_data.inspect(busi, cfg, "busi")
    assert report.problems == [f"{root}/benign/benign (1).png: no mask file found for this "
                               "image; add its mask or remove the image from the release folder"]
    # BUS-BRA lists masks from its CSV: a missing one is "file not found" naming the path
    bra = tmp_path / "BUSBRA"
    (bra / "bus_data.csv").parent.mkdir()
    (bra / "bus_data.csv").write_text('ID,Case,Pathology,BBOX\nbus_0001-l,1,benign,"[6,6,10,10]"\n')
    _png(bra / "Images" / "bus_0001-l.png", (40, 30), "L")
    cfg = busbra.Config(root=str(bra))
    with pytest.raises(DataError, match=r"Masks/mask_0001-l\.png: file not found"):
        busbra.load_case(busbra.list_cases(cfg)[0], cfg)


def test_orphan_and_misnamed_files_are_recorded(tmp_path: Path) -> None:
    root = _busi(tmp_path / "BUSI")
    _png(root / "benign" / "benign (7)_mask.png", (40, 30), "1")
    _png(root / "benign" / "benign 8.png", (40, 30), "L")
    problems = busi.layout_problems(busi.Config(root=str(root), classes=["benign"]))
    assert any("benign (7)_mask.png: mask without image" in p for p in problems)
    assert any("benign 8.png: unexpected file name" in p for p in problems)


def test_mask_of_another_size_error_or_skip(tmp_path: Path) -> None:
    root = _uclm(tmp_path / "BUS-UCLM", ["ABCD_000.png", "HESN_000.png"])
    _png(root / "images" / "HESN_000.png", (36, 27), "RGBA", (80, 80, 80, 255))  # smaller, RGBA
    cfg = bus_uclm.Config(root=str(root))
    with pytest.raises(DataError, match=r"masks/HESN_000\.png: mask size .*on_size_mismatch=skip"):
        bus_uclm.load_case(bus_uclm.list_cases(cfg)[1], cfg)
    assert len(check_data.inspect(bus_uclm, cfg, "bus_uclm").problems) == 1
    skip = bus_uclm.Config(root=str(root), on_size_mismatch="skip", n_folds=1)
    cases = bus_uclm.list_cases(skip)
    assert "HESN_000.png is (36, 27) but mask" in cases[1].extra[SKIP_KEY]
    report = check_data.inspect(bus_uclm, skip, "bus_uclm")
    assert (report.counts["skipped"], report.problems) == (1, [])
    split = splits.make_split("bus_uclm", cases, 1, 0)
    assert list(split["cases"]) == ["ABCD_000"] and "HESN_000" in split["skipped"]


def test_rgba_image_opaque_loads_transparent_fails(tmp_path: Path) -> None:
    root = _uclm(tmp_path / "BUS-UCLM", ["ABCD_000.png"])
    image = root / "images" / "ABCD_000.png"
    _png(image, (40, 30), "RGBA", (80, 90, 100, 255))
    cfg = bus_uclm.Config(root=str(root))
    sample = bus_uclm.load_case(bus_uclm.list_cases(cfg)[0], cfg)
    assert sample.image.shape == (30, 40, 3) and tuple(sample.image[0, 0]) == (80, 90, 100)
    assert sample.mask.sum() == 100 and sample.meta["mask_class"] == "benign"
    _png(image, (40, 30), "RGBA", (80, 90, 100, 0))
    with pytest.raises(DataError, match=r"ABCD_000\.png: RGBA image with transparent pixels"):
        bus_uclm.load_case(bus_uclm.list_cases(cfg)[0], cfg)


def test_rgba_mask_alpha_is_not_foreground(tmp_path: Path) -> None:
    root = _busi(tmp_path / "BUSI")
    _png(root / "benign" / "benign (1)_mask_1.png", (40, 30), "RGBA", (0, 0, 0, 255),
         (20, 20, 25, 25))
    cfg = busi.Config(root=str(root), classes=["benign"])
    mask = busi.load_case(busi.list_cases(cfg)[0], cfg).mask
    assert mask.sum() == 100 + 25  # 10x10 from _mask.png, 5x5 from _mask_1.png


def test_uclm_label_disagreeing_with_mask_colour_is_recorded(tmp_path: Path) -> None:
    root = _uclm(tmp_path / "BUS-UCLM", ["ABCD_000.png"])
    _png(root / "masks" / "ABCD_000.png", (40, 30), "RGB", 0)  # empty: the colours say normal
    report = check_data.inspect(bus_uclm, bus_uclm.Config(root=str(root)), "bus_uclm")
    assert report.problems and "mask colours say normal but INFO.csv says benign" in \
        report.problems[0]


def _nifti(path: Path, data: np.ndarray, affine=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.diag([1.0, 1.0, 2.0, 1.0]) if affine is None else affine),
             path)


def test_empty_3d_label_is_a_problem(tmp_path: Path) -> None:
    _nifti(tmp_path / "imagesTr" / "c1_0000.nii.gz", np.zeros((8, 8, 4), np.float32))
    _nifti(tmp_path / "labelsTr" / "c1.nii.gz", np.zeros((8, 8, 4), np.uint8))
    report = check_data.inspect(nnunet3d, nnunet3d.Config(root=str(tmp_path)), "nnunet3d")
    assert report.counts["empty masks"] == 1
    assert report.problems == [f"{tmp_path}/labelsTr/c1.nii.gz: label 1 is absent (labels "
                               "present: []); check dataset.label/organ"]


def test_3d_shape_mismatch_and_missing_image_are_named(tmp_path: Path) -> None:
    _nifti(tmp_path / "imagesTr" / "c1_0000.nii.gz", np.zeros((8, 8, 5), np.float32))
    _nifti(tmp_path / "labelsTr" / "c1.nii.gz", np.ones((8, 8, 4), np.uint8))
    _nifti(tmp_path / "labelsTr" / "c2.nii.gz", np.ones((8, 8, 4), np.uint8))
    cfg = nnunet3d.Config(root=str(tmp_path))
    c1, c2 = nnunet3d.list_cases(cfg)
    with pytest.raises(DataError, match=r"labelsTr/c1\.nii\.gz: shape \(8, 8, 4\) differs"):
        nnunet3d.load_case(c1, cfg)
    with pytest.raises(DataError, match=r"imagesTr/c2_0000\.nii\.gz: file not found"):
        nnunet3d.load_case(c2, cfg)


def test_3d_spacing_follows_reorientation(tmp_path: Path) -> None:
    """Array axis 0 runs along S (2.5 mm), axis 2 along R (0.7 mm): RAS puts R first."""
    affine = np.array([[0, 0, 0.7, 0], [0, 1.1, 0, 0], [2.5, 0, 0, 0], [0, 0, 0, 1.0]])
    data = np.zeros((4, 5, 6), np.uint8)
    data[1, 2, 3] = 1
    _nifti(tmp_path / "imagesTr" / "c_0000.nii.gz", data.astype(np.float32), affine)
    _nifti(tmp_path / "labelsTr" / "c.nii.gz", data, affine)
    cfg = nnunet3d.Config(root=str(tmp_path))
    sample = nnunet3d.load_case(nnunet3d.list_cases(cfg)[0], cfg)
    assert sample.mask.shape == (6, 5, 4)
    assert sample.spacing_mm == pytest.approx((0.7, 1.1, 2.5))
    assert tuple(np.argwhere(sample.mask)[0]) == (3, 2, 1)


@pytest.mark.parametrize("bad", ["image", "label"])
def test_3d_nan_voxels_are_named(tmp_path: Path, bad: str) -> None:
    """Issue 9 item 5: NaN image voxels were accepted, NaN label voxels became background."""
    image, label = np.ones((8, 8, 4), np.float32), np.ones((8, 8, 4), np.float32)
    (image if bad == "image" else label)[2, 3, 1] = np.nan
    _nifti(tmp_path / "imagesTr" / "c1_0000.nii.gz", image)
    _nifti(tmp_path / "labelsTr" / "c1.nii.gz", label)
    cfg = nnunet3d.Config(root=str(tmp_path))
    path = {"image": "imagesTr/c1_0000", "label": "labelsTr/c1"}[bad]
    with pytest.raises(DataError, match=rf"{path}\.nii\.gz: 1 NaN or infinite voxels"):
        nnunet3d.load_case(nnunet3d.list_cases(cfg)[0], cfg)
    report = check_data.inspect(nnunet3d, cfg, "nnunet3d")
    assert len(report.problems) == 1 and "NaN" in report.problems[0]


@pytest.mark.parametrize("organ, status", [("liver", "bad_input"), ("spleen", "ok")])
def test_an_organ_whose_label_id_is_absent_is_bad_input_not_dice_one(tmp_path: Path, organ: str,
                                                                     status: str) -> None:
    """Issue 19 item 4: liver relabelled 5 -> 77 with label_names={spleen:1,liver:5} left an empty
    reference and an empty prediction, scored Dice 1.0 as ok."""
    from benchmarks.core.io import write_table
    from benchmarks.runs import config
    from benchmarks.stages import evaluate

    labels = np.zeros((8, 8, 4), np.uint8)
    labels[1:3, 1:3, 1] = 1
    labels[4:7, 4:7, 2] = 77  # the liver, under an id the label map does not name
    _nifti(tmp_path / "img.nii.gz", np.zeros((8, 8, 4), np.float32))
    _nifti(tmp_path / "seg.nii.gz", labels)
    overrides = ["dataset=nifti_pairs", f"dataset_id=x__{organ}",
                 f"dataset.root={tmp_path}", "dataset.pairs={a:[img.nii.gz,seg.nii.gz]}",
                 "dataset.label_names={spleen:1,liver:5}", f"dataset.organ={organ}"]
    split = tmp_path / "split.json"
    cfg = config.compose_run(overrides, with_method=False)
    splits.write_for(*config.dataset_config(cfg), cfg.dataset_id, split, train_from="src")
    cfg = config.compose_run(["method=resnet_seg", *overrides, f"split_file='{split}'"])
    pred = tmp_path / "predict"
    pred.mkdir()
    np.savez_compressed(pred / "predictions.npz", a=np.zeros((8, 8, 4), bool))
    write_table(pred / "cases.csv", pd.DataFrame([{"case_id": "a", "status": "ok",
                                                    "message": "", "seconds": 0.1}]))
    table = evaluate.run(cfg, pred, {"trainer": "harness", "weights": "random_init"},
                         tmp_path / "metrics.csv")
    row = table.iloc[0]
    assert row["status"] == status
    if status == "bad_input":
        assert row["message"] == (f"{tmp_path}/seg.nii.gz: label 5 (liver) is absent from the "
                                  "label map (labels present: [1, 77]); check "
                                  "dataset.label_names or dataset.label")
        assert np.isnan(row["dice"])  # not scored, and not Dice 1.0


def test_an_image_below_the_minimum_size_is_refused_naming_it(tmp_path: Path) -> None:
    """Issue 19 item 6: a 1x1 image was accepted without a word."""
    root = _busi(tmp_path / "busi")
    _png(root / "benign" / "benign (3).png", (1, 1), "L", 90)
    _png(root / "benign" / "benign (3)_mask.png", (1, 1), "1", 255)
    report = check_data.inspect(busi, busi.Config(root=str(root), classes=["benign"]), "busi")
    assert report.problems == [f"{root}/benign/benign (3).png: image of 1x1 pixels is below the "
                               "8-pixel minimum side (dataset.min_size); re-export it or drop "
                               "the case"]
    assert report.counts["loaded"] == 2


def test_check_data_on_empty_class_folders_is_a_problem(tmp_path: Path) -> None:
    """Issue 19 item 7: class folders that exist but are empty exited 0 with 'images 0'."""
    for name in ("benign", "malignant", "normal"):
        (tmp_path / name).mkdir()
    assert check_data.run("busi", str(tmp_path), []) == 1
    report = check_data.inspect(busi, busi.Config(root=str(tmp_path)), "busi")
    assert report.problems == [f"{tmp_path}: no cases found; check dataset.root and that its "
                               "folders hold the release's images and masks"]
