"""Loader for BUSI (Al-Dhabyani et al., Data in Brief 2020) in its release layout.

``root`` is the folder ``Dataset_BUSI_with_GT`` holding ``<class>/<class> (N).png`` with its mask
``<class> (N)_mask.png`` and, for images with several lesions, ``_mask_1.png``, ``_mask_2.png`` …
which are OR-ed into one reference. The ``normal`` class (all-zero masks) is kept as its own subset
so that false positives on lesion-free images can be measured; whether it counts in the headline
means is the evaluation switch ``eval.include_normal``, recorded in results.

BUSI publishes no patient ids, so the split unit is the image (class + number), as in every
published BUSI split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.data.base import (
    CaseRef,
    DataError,
    DatasetConfig,
    Sample,
    read_image_and_masks,
    safe_id,
)

_NAME = re.compile(r"^(?P<cls>[a-z]+) \((?P<num>\d+)\)(?P<mask>_mask(?:_\d+)?)?\.png$")


@dataclass
class Config(DatasetConfig):
    """BUSI release folder and the classes to list."""

    root: str = "Dataset_BUSI_with_GT"  # as unpacked from the release archive
    classes: list[str] = field(default_factory=lambda: ["benign", "malignant", "normal"])


def _scan(folder: Path) -> tuple[dict[int, str], dict[int, list[str]], list[str]]:
    """Images and masks by image number, plus files that fit no name pattern."""
    images: dict[int, str] = {}
    masks: dict[int, list[str]] = {}
    odd = []
    for path in sorted(folder.iterdir()):
        match = _NAME.match(path.name)
        if match is None or match["cls"] != folder.name:
            odd.append(str(path))
        elif match["mask"]:
            masks.setdefault(int(match["num"]), []).append(str(path))
        else:
            images[int(match["num"])] = str(path)
    return images, masks, odd


def _class_dir(cfg: Config, cls: str) -> Path:
    folder = Path(cfg.root) / cls
    if not folder.is_dir():
        raise DataError(f"{folder}: class folder not found; dataset.root must be the "
                        "Dataset_BUSI_with_GT folder (or drop the class from dataset.classes)")
    return folder


def list_cases(cfg: Config) -> list[CaseRef]:
    """Every image of the configured classes, sorted by class then number."""
    cases = []
    for cls in cfg.classes:
        images, masks, _ = _scan(_class_dir(cfg, cls))
        for num in sorted(images):
            files = tuple(sorted(masks.get(num, []), key=lambda p: (len(p), p)))
            case_id = safe_id(f"{cls} ({num})")
            cases.append(CaseRef(case_id, case_id, images[num], files, subset=cls,
                                 extra={"class": cls, "n_masks": len(files)}))
    return cases


def load_case(ref: CaseRef, cfg: Config) -> Sample:
    """RGB image and the OR of its lesion masks (empty for ``normal``)."""
    image, mask = read_image_and_masks(ref.image, ref.masks)
    return Sample(ref.case_id, image, mask, None, ref.subset, {"n_masks": len(ref.masks)})


def layout_problems(cfg: Config) -> list[str]:
    """Masks without an image and files whose names fit no BUSI pattern."""
    problems = []
    for cls in cfg.classes:
        images, masks, odd = _scan(_class_dir(cfg, cls))
        problems += [f"{p}: unexpected file name (expected '{cls} (N).png' or "
                     f"'{cls} (N)_mask[_k].png'); rename or remove it" for p in odd]
        problems += [f"{m}: mask without image '{cls} ({num}).png'; add the image or remove it"
                     for num in sorted(set(masks) - set(images)) for m in masks[num]]
    return problems
