"""Loader for 3D NIfTI sets in the nnU-Net raw layout (``imagesTr/``, ``labelsTr/``), e.g. BTCV.

``root`` holds ``labelsTr/<case>.nii.gz`` and ``imagesTr/<case>_0000.nii.gz`` (nnU-Net's channel
suffix; ``imagesTr/<case>.nii.gz`` is accepted too). Each grid dataset is one binary task: the
voxels equal to ``label`` (or to the id of ``organ``, looked up in ``label_names``, else in the
root's ``dataset.json``). BTCV's 13 organs are :data:`BTCV_LABELS`: one dataset entry per organ.

Volumes are reoriented to RAS (``nibabel.as_closest_canonical``), trailing 1-sized axes of 5-D
files ``(X, Y, Z, 1, 1)`` are dropped, and spacing comes from the header after reorientation, in
array-axis order. Intensities are left in the file's units.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.data.base import CaseRef, DataError, Sample, VolumeConfig, volume_sample

# Synapse multi-organ (BTCV) label ids, as in its release and nnU-Net's Dataset017/Task017.
BTCV_LABELS = {
    "spleen": 1, "right_kidney": 2, "left_kidney": 3, "gallbladder": 4, "esophagus": 5,
    "liver": 6, "stomach": 7, "aorta": 8, "inferior_vena_cava": 9,
    "portal_and_splenic_vein": 10, "pancreas": 11, "right_adrenal_gland": 12,
    "left_adrenal_gland": 13,
}


@dataclass
class Config(VolumeConfig):
    """One foreground label of an nnU-Net-layout set."""

    root: str = ""  # the nnU-Net raw dataset folder (holding imagesTr/ and labelsTr/)
    label: int = 1  # foreground label id (used when `organ` is empty)
    organ: str = ""  # a name in label_names / dataset.json; overrides `label`
    label_names: dict[str, int] = field(default_factory=dict)  # e.g. BTCV_LABELS


def _dataset_json_labels(root: Path) -> dict[str, int]:
    """Name -> id from nnU-Net v2 (``{"liver": 1}``) or MSD/v1 (``{"1": "liver"}``) dataset.json."""
    path = root / "dataset.json"
    if not path.exists():
        return {}
    labels = json.loads(path.read_text()).get("labels", {})
    if all(str(k).isdigit() for k in labels):
        return {str(v): int(k) for k, v in labels.items()}
    return {str(k): int(v) for k, v in labels.items() if not isinstance(v, list)}


def label_id(cfg: Config) -> tuple[int, str]:
    """The foreground label id and its name (``label<id>`` when unnamed)."""
    if not cfg.organ:
        return cfg.label, f"label{cfg.label}"
    names = dict(cfg.label_names) or _dataset_json_labels(Path(cfg.root))
    if cfg.organ not in names:
        raise DataError(f"dataset.organ={cfg.organ!r} not in the label names "
                        f"{sorted(names)}; set dataset.label_names or dataset.label")
    return names[cfg.organ], cfg.organ


def _image_for(root: Path, case_id: str) -> Path:
    for name in (f"{case_id}_0000.nii.gz", f"{case_id}.nii.gz", f"{case_id}_0000.nii"):
        if (root / "imagesTr" / name).exists():
            return root / "imagesTr" / name
    return root / "imagesTr" / f"{case_id}_0000.nii.gz"  # reported as missing on load


def list_cases(cfg: Config) -> list[CaseRef]:
    """Every ``labelsTr`` file with its image; one patient per case."""
    root = Path(cfg.root)
    labels = sorted((root / "labelsTr").glob("*.nii*"))
    if not labels:
        raise DataError(f"{root}/labelsTr: no .nii/.nii.gz labels; dataset.root must be an "
                        "nnU-Net raw dataset folder")
    _, name = label_id(cfg)
    cases = []
    for lab in labels:
        case_id = lab.name.removesuffix(".gz").removesuffix(".nii")
        cases.append(CaseRef(case_id, case_id, str(_image_for(root, case_id)), (str(lab),),
                             subset=name))
    return cases


def load_case(ref: CaseRef, cfg: Config) -> Sample:
    """RAS volume, the binary mask of the configured label, spacing in mm."""
    return volume_sample(ref, label_id(cfg)[0], ref.subset)


def layout_problems(cfg: Config) -> list[str]:
    """Images in ``imagesTr`` without a label."""
    root = Path(cfg.root)
    cases = {c.case_id for c in list_cases(cfg)}
    return [f"{path}: image without label in labelsTr; add the label or remove the image"
            for path in sorted((root / "imagesTr").glob("*.nii*"))
            if path.name.split(".nii")[0].removesuffix("_0000") not in cases]
