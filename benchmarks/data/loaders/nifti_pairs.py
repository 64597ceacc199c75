"""Loader for NIfTI volumes listed as explicit (image, label) file pairs under one root.

For releases that are not in a folder layout of their own, such as the TotalSegmentator example
(``example_ct_sm.nii.gz`` + ``example_seg.nii.gz``) or the M-SAM demo crop (``image3D.nii.gz`` +
``gt.nii.gz``, 5-D ``(X, Y, Z, 1, 1)``). ``pairs`` maps a case id to ``[image, label]`` paths
relative to ``root``; each case is its own patient. The foreground is ``label`` or the id of
``organ`` in ``label_names`` (so ``organs: [...]`` in config.yaml expands it as for nnunet3d).

Reading (RAS reorientation, 5-D squeezing, shape/affine/NaN checks, spacing in array-axis order) is
:func:`benchmarks.data.base.read_nifti_pair`, as for every NIfTI set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.data.base import CaseRef, DataError, Sample, VolumeConfig, volume_sample
from benchmarks.data.loaders import nnunet3d


@dataclass
class Config(VolumeConfig):
    """The pairs and the foreground label."""

    root: str = ""  # folder the pair paths are relative to
    pairs: dict[str, list[str]] = field(default_factory=dict)  # case id -> [image, label]
    label: int = 0  # 0 = any non-zero voxel (binary labels); else this id
    organ: str = ""  # a name in label_names; overrides `label`
    label_names: dict[str, int] = field(default_factory=dict)  # e.g. TotalSegmentator's map


def list_cases(cfg: Config) -> list[CaseRef]:
    """One case per pair, sorted by id; a pair that is not ``[image, label]`` is an error."""
    if not cfg.pairs:
        raise DataError(f"{cfg.root}: dataset.pairs is empty; give "
                        "dataset.pairs={<case>:[<image>,<label>]} (paths relative to root)")
    _, name = nnunet3d.label_id(cfg)
    cases = []
    for case_id, pair in sorted(cfg.pairs.items()):
        if len(pair) != 2 or not re.fullmatch(r"[A-Za-z0-9_.-]+", case_id):
            raise DataError(f"dataset.pairs.{case_id}={list(pair)}: give a case id of letters, "
                            "digits, '_', '.', '-' and exactly [image, label]")
        image, label = (str(Path(cfg.root) / p) for p in pair)
        cases.append(CaseRef(case_id, case_id, image, (label,), subset=name))
    return cases


def load_case(ref: CaseRef, cfg: Config) -> Sample:
    """RAS volume, the binary mask of the configured label, spacing in mm."""
    return volume_sample(ref, nnunet3d.label_id(cfg)[0], ref.subset)
