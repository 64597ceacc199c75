"""Loader for BUS-BRA (Gómez-Flores et al., Med Phys 2024) in its release layout.

``root`` is the folder ``BUSBRA`` holding ``Images/bus_XXXX-{l,r,s}.png`` (grey),
``Masks/mask_XXXX-{l,r,s}.png`` (1-bit), ``bus_data.csv`` (``Case`` = patient, the split unit;
``BBOX`` = lesion box ``[x, y, w, h]``, 1-based corner, ``w = x_max - x_min``; recorded also as
0-based inclusive ``bbox_xyxy``) and the official ``5-fold-cv.csv`` / ``10-fold-cv.csv``
(column ``kFold``, 1-based), used when ``fold_scheme=official``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.data.base import (
    CaseRef,
    DataError,
    DatasetConfig,
    Sample,
    read_image_and_masks,
)

EXTRA_COLUMNS = ("Histology", "Pathology", "BIRADS", "Device", "Side")


@dataclass
class Config(DatasetConfig):
    """``fold_scheme``: ``kfold`` (seeded, by Case) or ``official`` (n_folds 5 or 10)."""

    root: str = "BUSBRA"  # as unpacked from Zenodo 8231412


def _table(cfg: Config) -> pd.DataFrame:
    path = Path(cfg.root) / "bus_data.csv"
    if not path.exists():
        raise DataError(f"{path}: not found; dataset.root must be the BUSBRA release folder")
    table = pd.read_csv(path, dtype={"ID": str, "Case": str})
    missing = {"ID", "Case", "BBOX"} - set(table.columns)
    if missing:
        raise DataError(f"{path}: columns {sorted(missing)} missing; use the release's CSV")
    return table


def _ref(root: Path, row: pd.Series) -> CaseRef:
    extra = {col.lower(): row[col] for col in EXTRA_COLUMNS if col in row and pd.notna(row[col])}
    x, y, w, h = (int(v) for v in json.loads(row["BBOX"]))
    extra["bbox_xywh"] = [x, y, w, h]
    # BBOX is 1-based with w, h = max - min (checked on the sample: matches the mask exactly)
    extra["bbox_xyxy"] = [x - 1, y - 1, x - 1 + w, y - 1 + h]
    mask = root / "Masks" / (row["ID"].replace("bus_", "mask_", 1) + ".png")
    return CaseRef(row["ID"], row["Case"], str(root / "Images" / f"{row['ID']}.png"),
                   (str(mask),), subset=str(row.get("Pathology", "lesion")), extra=extra)


def list_cases(cfg: Config) -> list[CaseRef]:
    """One case per row of ``bus_data.csv``, sorted by ID."""
    root = Path(cfg.root)
    return [_ref(root, row) for _, row in _table(cfg).sort_values("ID").iterrows()]


def load_case(ref: CaseRef, cfg: Config) -> Sample:
    """Grey image as RGB and its binary mask."""
    image, mask = read_image_and_masks(ref.image, ref.masks)
    return Sample(ref.case_id, image, mask, None, ref.subset, {"bbox_xyxy": ref.extra["bbox_xyxy"]})


def case_problems(ref: CaseRef, sample: Sample, cfg: Config) -> list[str]:
    """A ``BBOX`` in bus_data.csv that is not the box of the mask."""
    from benchmarks.data.prompts import box_from_mask

    box = box_from_mask(sample.mask)
    if box == ref.extra["bbox_xyxy"]:
        return []
    return [f"{ref.masks[0]}: mask box {box} (xyxy, 0-based) differs from bus_data.csv BBOX "
            f"{ref.extra['bbox_xywh']} (xywh, 1-based); check the mask or the CSV row"]


def official_folds(cases: list[CaseRef], cfg: Config) -> dict[str, int]:
    """Folds 0..k-1 from ``<k>-fold-cv.csv`` (its ``kFold`` is 1-based)."""
    path = Path(cfg.root) / f"{cfg.n_folds}-fold-cv.csv"
    if not path.exists():
        raise DataError(f"{path}: not found; fold_scheme=official needs dataset.n_folds=5 or 10")
    table = pd.read_csv(path, dtype={"ID": str}).set_index("ID")["kFold"]
    absent = [c.case_id for c in cases if c.case_id not in table.index]
    if absent:
        raise DataError(f"{path}: no fold for {absent[:5]}; use the CSV of the same release")
    return {c.case_id: int(table[c.case_id]) - 1 for c in cases}


def layout_problems(cfg: Config) -> list[str]:
    """Image or mask files that ``bus_data.csv`` does not list."""
    root = Path(cfg.root)
    ids = set(_table(cfg)["ID"])
    problems = []
    for folder, prefix in (("Images", "bus_"), ("Masks", "mask_")):
        for path in sorted((root / folder).glob("*.png")):
            if "bus_" + path.stem.removeprefix(prefix) not in ids:
                problems.append(f"{path}: not listed in bus_data.csv; add its row or remove it")
    return problems
