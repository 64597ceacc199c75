"""Loader for BUS-UCLM (Vallez et al., Sci Data 2025) in its release layout.

``root`` is the folder ``BUS-UCLM`` holding ``images/*.png`` (RGB; some RGBA), ``masks/*.png``
(RGB: green = benign lesion, red = malignant lesion, black = background; several lesions
possible) and ``INFO.csv`` (``;``-separated; ``Image``, ``Label``). The patient, the split unit, is
the 4-letter file prefix (``ALWI_000.png`` -> ``ALWI``).

In the full release some images (``HESN_*``) are smaller than their masks. ``on_size_mismatch``
chooses what happens: ``error`` (default) fails on load naming both files; ``skip`` lists the case
with a recorded reason, and the split file keeps it under ``skipped`` (never silently dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.data.base import (
    SKIP_KEY,
    CaseRef,
    DataError,
    DatasetConfig,
    Sample,
    check_same_size,
    image_size,
    read_mask_rgb,
    read_rgb,
)

SIZE_POLICIES = ("error", "skip")


@dataclass
class Config(DatasetConfig):
    """BUS-UCLM release folder and the image/mask size policy."""

    root: str = "BUS-UCLM"  # as unpacked from Mendeley 7fvgj4jsp7
    on_size_mismatch: str = "error"  # "error" or "skip" (recorded in the split file)


def _info(cfg: Config) -> pd.DataFrame:
    path = Path(cfg.root) / "INFO.csv"
    if not path.exists():
        raise DataError(f"{path}: not found; dataset.root must be the BUS-UCLM release folder")
    table = pd.read_csv(path, sep=";", dtype=str)
    if not {"Image", "Label"} <= set(table.columns):
        raise DataError(f"{path}: needs ';'-separated columns Image and Label; got "
                        f"{list(table.columns)}")
    return table.sort_values("Image")


def _size_reason(image: Path, mask: Path) -> str | None:
    """Why the pair is skipped (sizes from headers only), or None when it is usable."""
    if not (image.exists() and mask.exists()):
        return None  # a missing file is an error at load time, not a skip
    if image_size(image) == image_size(mask):
        return None
    return (f"image {image} is {image_size(image)} but mask {mask} is {image_size(mask)} "
            "(dataset.on_size_mismatch=skip)")


def list_cases(cfg: Config) -> list[CaseRef]:
    """One case per row of ``INFO.csv``; subset = its label (benign / malignant / normal)."""
    if cfg.on_size_mismatch not in SIZE_POLICIES:
        raise ValueError(f"dataset.on_size_mismatch={cfg.on_size_mismatch!r}; use one of "
                         f"{SIZE_POLICIES}")
    root = Path(cfg.root)
    cases = []
    for row in _info(cfg).itertuples():
        image, mask = root / "images" / row.Image, root / "masks" / row.Image
        extra = {"class": row.Label.lower()}
        reason = _size_reason(image, mask) if cfg.on_size_mismatch == "skip" else None
        if reason:
            extra[SKIP_KEY] = reason
        stem = Path(row.Image).stem
        cases.append(CaseRef(stem, stem[:4], str(image), (str(mask),), row.Label.lower(), extra))
    return cases


def mask_class(mask_rgb: np.ndarray) -> str:
    """``malignant`` if any red lesion pixel, else ``benign`` if any green one, else ``normal``."""
    red, green, blue = (mask_rgb[..., i].astype(int) for i in range(3))
    if ((red > 127) & (green < 128) & (blue < 128)).any():
        return "malignant"
    if ((green > 127) & (red < 128) & (blue < 128)).any():
        return "benign"
    return "normal"


def load_case(ref: CaseRef, cfg: Config) -> Sample:
    """RGB image (opaque RGBA accepted) and the binary lesion mask; class from mask colours."""
    image = read_rgb(ref.image)
    mask_rgb = read_mask_rgb(ref.masks[0])
    try:
        check_same_size(image, mask_rgb[..., 0], ref.image, ref.masks[0])
    except DataError as err:
        raise DataError(f"{err} (or set dataset.on_size_mismatch=skip)") from err
    meta = {"mask_class": mask_class(mask_rgb)}
    return Sample(ref.case_id, image, mask_rgb.any(axis=2), None, ref.subset, meta)


def case_problems(ref: CaseRef, sample: Sample, cfg: Config) -> list[str]:
    """INFO.csv label that disagrees with the mask colours."""
    if sample.meta["mask_class"] == ref.subset:
        return []
    return [f"{ref.masks[0]}: mask colours say {sample.meta['mask_class']} but INFO.csv says "
            f"{ref.subset}; check which one is right"]


def layout_problems(cfg: Config) -> list[str]:
    """Images or masks that INFO.csv does not list."""
    root, listed = Path(cfg.root), set(_info(cfg)["Image"])
    return [f"{path}: not listed in INFO.csv; add its row or remove it"
            for folder in ("images", "masks") for path in sorted((root / folder).glob("*.png"))
            if path.name not in listed]
