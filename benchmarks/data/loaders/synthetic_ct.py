"""Loader for the embedded synthetic 3D set (nnU-Net layout, written by ``synthetic.write_ct``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.data.base import CaseRef, DataError, Sample, VolumeConfig, volume_sample


@dataclass
class Config(VolumeConfig):
    """One binary task per label id."""

    root: str = "results/data/synthetic_ct"  # written by `cli make-data --kind ct`
    # soft-tissue CT window in HU (a common abdominal window; synthetic organs are 60 and 150 HU)
    window: list[float] = field(default_factory=lambda: [-160.0, 240.0])
    n_folds: int = 3  # 6 volumes
    label: int = 1  # organ label id scored as foreground


def list_cases(cfg: Config) -> list[CaseRef]:
    """Every ``labelsTr/*.nii.gz`` with its ``imagesTr/<case>_0000.nii.gz``."""
    root = Path(cfg.root)
    labels = sorted((root / "labelsTr").glob("*.nii.gz"))
    if not labels:
        raise DataError(f"{root}/labelsTr: no labels; generate them with `cli make-data --kind ct`")
    cases = []
    for lab in labels:
        case_id = lab.name.removesuffix(".nii.gz")
        image = root / "imagesTr" / f"{case_id}_0000.nii.gz"
        cases.append(CaseRef(case_id, case_id, str(image), (str(lab),), subset="volume"))
    return cases


def load_case(ref: CaseRef, cfg: Config) -> Sample:
    """Volume, binary mask of ``cfg.label`` and spacing in array-axis order, read and checked
    (shape, affine, NaN, dimensionality) as every NIfTI set is (:func:`base.volume_sample`)."""
    return volume_sample(ref, cfg.label, "volume")
