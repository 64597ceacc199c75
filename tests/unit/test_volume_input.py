"""Bad 3D input: 5-D files, label maps off the image grid, volumes over the memory limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.data import volumes
from benchmarks.data.base import DataError
from benchmarks.data.loaders import nnunet3d


def _nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> None:
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))


def _load(root: Path):
    cfg = nnunet3d.Config(root=str(root))
    return nnunet3d.load_case(nnunet3d.list_cases(cfg)[0], cfg)


def test_5d_volume_is_named_and_trailing_unit_axes_are_dropped(tmp_path: Path) -> None:
    _nifti(tmp_path / "imagesTr" / "c_0000.nii.gz", np.zeros((8, 8, 4, 1, 2), np.float32))
    _nifti(tmp_path / "labelsTr" / "c.nii.gz", np.ones((8, 8, 4), np.uint8))
    with pytest.raises(DataError, match=r"c_0000\.nii\.gz: 5-D volume of shape \(8, 8, 4, 1, 2\)"):
        _load(tmp_path)
    _nifti(tmp_path / "imagesTr" / "c_0000.nii.gz", np.zeros((8, 8, 4, 1, 1), np.float32))
    assert _load(tmp_path).image.shape == (8, 8, 4)


def test_label_on_another_grid_is_named(tmp_path: Path) -> None:
    _nifti(tmp_path / "imagesTr" / "c_0000.nii.gz", np.zeros((8, 8, 4), np.float32))
    _nifti(tmp_path / "labelsTr" / "c.nii.gz", np.ones((8, 8, 4), np.uint8),
           np.diag([1.0, 1.0, 3.0, 1.0]))
    with pytest.raises(DataError, match=r"labelsTr/c\.nii\.gz: affine differs from image"):
        _load(tmp_path)


def test_volume_over_the_memory_limit_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "big_0000.nii.gz"
    _nifti(path, np.zeros((64, 64, 64), np.float32))  # 1 MB as float32
    volumes.check_size(str(path), nnunet3d.Config(max_volume_mb=2))
    volumes.check_size(str(path), nnunet3d.Config())  # 0 = no limit
    with pytest.raises(DataError, match=r"big_0000\.nii\.gz: volume \(64, 64, 64\) needs 1 MB"):
        volumes.check_size(str(path), nnunet3d.Config(max_volume_mb=0.5))
