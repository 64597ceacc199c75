"""Loader for the embedded synthetic breast-ultrasound set written by ``synthetic.write_bus``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.data.base import (
    CaseRef,
    DataError,
    DatasetConfig,
    Sample,
    check_same_size,
    read_mask,
    read_rgb,
)


@dataclass
class Config(DatasetConfig):
    """The synthetic set has no spacing: distances are in pixels."""

    root: str = "results/data/synthetic_bus"  # written by `cli make-data --kind bus`


def list_cases(cfg: Config) -> list[CaseRef]:
    """All cases listed in ``cases.csv``."""
    root = Path(cfg.root)
    table_path = root / "cases.csv"
    if not table_path.exists():
        raise DataError(f"{table_path}: not found; generate it with `cli make-data --kind bus`")
    table = pd.read_csv(table_path, dtype=str)
    return [
        CaseRef(
            case_id=row.case_id,
            patient_id=row.patient_id,
            image=str(root / "images" / f"{row.case_id}.png"),
            masks=(str(root / "masks" / f"{row.case_id}.png"),),
            subset=row.subset,
        )
        for row in table.itertuples()
    ]


def load_case(ref: CaseRef, cfg: Config) -> Sample:
    """Image as RGB uint8 and the binary mask, checked for equal size."""
    image = read_rgb(ref.image)
    mask = read_mask(ref.masks[0])
    check_same_size(image, mask, ref.image, ref.masks[0])
    return Sample(ref.case_id, image, mask, spacing_mm=None, subset=ref.subset)
