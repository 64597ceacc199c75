"""Loader for 3D NIfTI sets in the M-SAM / SAM-Med3D layout.

``root`` holds ``<organ>/<modality>_<dataset>/{imagesTr,labelsTr}/<case>.nii.gz`` (for example
``edema/mr_flair_BraTS2021/imagesTr/BraTS2021_01646.nii.gz``); labels are binary per folder, so the
foreground is every non-zero voxel unless ``label`` names one id. The subset is the organ; the
patient is the case file name, so the same scan listed under two organs stays in one fold.

Orientation, 5-D squeezing and spacing are handled as in :mod:`benchmarks.data.loaders.nnunet3d`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.data.base import CaseRef, DataError, Sample, VolumeConfig, safe_id, volume_sample


@dataclass
class Config(VolumeConfig):
    """Which organ folders to list and which label is foreground."""

    root: str = ""  # the folder holding <organ>/<modality>_<dataset>/ (M-SAM data/train or test)
    organs: list[str] = field(default_factory=list)  # empty = every organ folder
    label: int = 0  # 0 = any non-zero voxel (M-SAM's labels are binary per folder)


def _series(cfg: Config) -> list[Path]:
    root = Path(cfg.root)
    found = sorted(p.parent for p in root.glob("*/*/labelsTr"))
    if cfg.organs:
        found = [p for p in found if p.parent.name in cfg.organs]
    if not found:
        raise DataError(f"{root}: no <organ>/<modality>_<dataset>/labelsTr folders"
                        f"{' for ' + str(list(cfg.organs)) if cfg.organs else ''}; check "
                        "dataset.root and dataset.organs")
    return found


def list_cases(cfg: Config) -> list[CaseRef]:
    """Every label file of every series folder, sorted by organ, series and case."""
    cases = []
    for series in _series(cfg):
        organ = series.parent.name
        for lab in sorted((series / "labelsTr").glob("*.nii*")):
            stem = lab.name.removesuffix(".gz").removesuffix(".nii")
            cases.append(CaseRef(
                safe_id(f"{organ}__{series.name}__{stem}"), safe_id(stem),
                str(series / "imagesTr" / lab.name), (str(lab),), subset=organ,
                extra={"organ": organ, "series": series.name,
                       "ct": series.name.startswith("ct_")}))
    return cases


def load_case(ref: CaseRef, cfg: Config) -> Sample:
    """RAS volume, binary mask, spacing in mm."""
    return volume_sample(ref, cfg.label, ref.subset)
