"""Loaders on the real samples in ../shared/data: check-data counts match the samples' README."""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from benchmarks import cli
from benchmarks.data.base import read_mask
from benchmarks.data.loaders import bus_uclm, busbra, busi, msam3d, nnunet3d, refuge
from benchmarks.stages import check_data
from tests.conftest import SHARED_DATA

SHARED = SHARED_DATA.resolve()
pytestmark = pytest.mark.skipif(not SHARED.is_dir(),
                                reason=f"{SHARED} absent: the real data samples are not here")
SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def _report(loader, root: Path, **fields) -> check_data.DataReport:
    return check_data.inspect(loader, loader.Config(root=str(root), **fields), loader.__name__)


def test_busbra_counts_and_grey_to_rgb() -> None:
    rep = _report(busbra, SHARED / "busbra/BUSBRA")
    assert (rep.counts["images"], rep.counts["masks"], rep.counts["patients"]) == (61, 61, 35)
    assert rep.problems == [] and rep.counts["empty masks"] == 0
    assert rep.subsets == {"benign": 31, "malignant": 30}
    cfg = busbra.Config(root=str(SHARED / "busbra/BUSBRA"))
    ref = busbra.list_cases(cfg)[0]
    sample = busbra.load_case(ref, cfg)
    assert sample.image.shape == (353, 274, 3)  # original size (bus_data.csv: 274 x 353)
    assert (sample.image[..., 0] == sample.image[..., 2]).all()  # grey repeated
    assert (ref.case_id, ref.patient_id, ref.extra["bbox_xywh"]) == ("bus_0001-l", "1",
                                                                    [91, 24, 103, 79])


def test_busi_counts_multi_mask_and_normal() -> None:
    rep = _report(busi, SHARED / "busi/Dataset_BUSI_with_GT")
    assert rep.counts["images"] == 24 and rep.counts["masks"] == 25
    assert rep.counts["multi-mask cases"] == 1 and rep.counts["empty masks"] == 4
    assert rep.subsets == {"benign": 12, "malignant": 8, "normal": 4}
    assert rep.problems == []
    cfg = busi.Config(root=str(SHARED / "busi/Dataset_BUSI_with_GT"))
    refs = {r.case_id: r for r in busi.list_cases(cfg)}
    assert all(SAFE.match(cid) for cid in refs)
    multi = refs["benign_4"]
    assert [Path(m).name for m in multi.masks] == ["benign (4)_mask.png", "benign (4)_mask_1.png"]
    union = busi.load_case(multi, cfg).mask
    parts = [read_mask(m) for m in multi.masks]
    assert (union == parts[0] | parts[1]).all()
    assert union.sum() > max(p.sum() for p in parts)  # the RGBA _mask_1 adds its lesion only
    assert union.mean() < 0.05  # alpha 255 everywhere must not make the mask all-foreground


def test_bus_uclm_counts_and_class_from_colour() -> None:
    rep = _report(bus_uclm, SHARED / "bus-uclm/BUS-UCLM")
    assert (rep.counts["images"], rep.counts["patients"]) == (9, 5)
    assert rep.problems == [] and rep.subsets == {"benign": 4, "normal": 5}
    cfg = bus_uclm.Config(root=str(SHARED / "bus-uclm/BUS-UCLM"))
    ref = bus_uclm.list_cases(cfg)[0]
    assert (ref.case_id, ref.patient_id) == ("ALWI_000", "ALWI")
    sample = bus_uclm.load_case(ref, cfg)
    assert sample.meta["mask_class"] == "benign" and sample.mask.any()
    assert sample.image.shape == (606, 856, 3)


def test_refuge_counts_targets_and_official_folds() -> None:
    root = SHARED / "refuge-fundus-midss"
    rep = _report(refuge, root)
    assert rep.counts["images"] == 8 and rep.problems == []
    assert rep.subsets == {f"domain{k}": 2 for k in (1, 2, 3, 4)}
    cup_cfg, disc_cfg = refuge.Config(root=str(root)), refuge.Config(root=str(root), target="disc")
    ref = refuge.list_cases(cup_cfg)[0]
    cup, disc = refuge.load_case(ref, cup_cfg).mask, refuge.load_case(ref, disc_cfg).mask
    assert cup.any() and (disc & cup == cup).all() and disc.sum() > cup.sum()
    official = refuge.Config(root=str(root), n_folds=2, fold_scheme="official")
    folds = refuge.official_folds(refuge.list_cases(official), official)
    assert sorted(folds.values()) == [0] * 4 + [1] * 4


def _nnunet_layout(tmp: Path, pairs: dict[str, tuple[str, str]]) -> Path:
    """Symlinks (never copies) of shared files into an nnU-Net layout."""
    for sub in ("imagesTr", "labelsTr"):
        (tmp / sub).mkdir(parents=True)
    for case, (image, label) in pairs.items():
        (tmp / "imagesTr" / f"{case}_0000.nii.gz").symlink_to(SHARED / image)
        (tmp / "labelsTr" / f"{case}.nii.gz").symlink_to(SHARED / label)
    return tmp


def test_nnunet3d_totalseg_lps_mr_reoriented(tmp_path: Path) -> None:
    root = _nnunet_layout(tmp_path, {
        "ct": ("totalseg-example/example_ct_sm.nii.gz", "totalseg-example/example_seg.nii.gz"),
        "mr": ("totalseg-example/example_mr_sm.nii.gz", "totalseg-example/example_seg_mr.nii.gz")})
    rep = _report(nnunet3d, root, label=5)  # liver
    assert (rep.counts["images"], rep.counts["loaded"], rep.problems) == (2, 2, [])
    cfg = nnunet3d.Config(root=str(root), label=5)
    mr_ref = nnunet3d.list_cases(cfg)[1]
    sample = nnunet3d.load_case(mr_ref, cfg)
    raw = nib.load(SHARED / "totalseg-example/example_seg_mr.nii.gz")
    assert nib.aff2axcodes(raw.affine) == ("L", "P", "S")
    # LPS -> RAS flips the first two axes: the canonical mask is the raw one flipped
    assert (sample.mask == (np.asarray(raw.dataobj) == 5)[::-1, ::-1, :]).all()
    assert sample.spacing_mm == (3.0, 3.0, 3.0) and sample.image.dtype == np.float32


def test_nnunet3d_5d_msd_squeezed(tmp_path: Path) -> None:
    root = _nnunet_layout(tmp_path, {"lung": ("msam-demo/image3D.nii.gz", "msam-demo/gt.nii.gz")})
    cfg = nnunet3d.Config(root=str(root))
    sample = nnunet3d.load_case(nnunet3d.list_cases(cfg)[0], cfg)
    assert sample.image.shape == sample.mask.shape == (128, 128, 128)
    assert sample.spacing_mm == (1.0, 1.0, 1.0) and sample.mask.sum() > 0


def test_msam3d_brats_layout() -> None:
    root = SHARED / "sammed3d-brats-sample/validation"
    rep = _report(msam3d, root)
    assert (rep.counts["images"], rep.problems, rep.subsets) == (1, [], {"edema": 1})
    cfg = msam3d.Config(root=str(root))
    ref = msam3d.list_cases(cfg)[0]
    assert (ref.case_id, ref.patient_id) == ("edema__mr_flair_BraTS2021__BraTS2021_01646",
                                             "BraTS2021_01646")
    sample = msam3d.load_case(ref, cfg)
    assert sample.image.shape == (160, 160, 104) and sample.spacing_mm == (1.5, 1.5, 1.5)


def test_check_data_cli_counts_and_exit_status(tmp_path: Path, capsys) -> None:
    rc = cli.main(["check-data", "--dataset", "busbra", "--root", str(SHARED / "busbra/BUSBRA")])
    out = capsys.readouterr().out
    assert rc == 0 and re.search(r"images\s+61\n", out) and re.search(r"patients\s+35\n", out)
    root = _nnunet_layout(tmp_path, {
        "mr": ("totalseg-example/example_mr_sm.nii.gz", "totalseg-example/example_seg_mr.nii.gz")})
    rc = cli.main(["check-data", "--dataset", "nnunet3d", "--root", str(root), "dataset.label=52"])
    out = capsys.readouterr().out
    assert rc == 1 and "problem:" in out and "labelsTr/mr.nii.gz: label 52 is absent" in out
