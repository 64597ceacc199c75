"""Loader for the REFUGE fundus ROI crops in the multi-domain layout (with Drishti-GS, RIM-ONE r3).

``root`` holds ``DomainK/{train,test}/ROIs/{image,mask}/<name>.png`` (RGB 800 x 800). Mask values:
0 = optic cup, 128 = rim, 255 = background, so the optic disc is every value < 255. ``target``
picks the binary task: ``cup`` (value 0) or ``disc`` (value < 255). Domains 1 = Drishti-GS,
2 = RIM-ONE r3, 3 = REFUGE train, 4 = REFUGE val.

``fold_scheme=official`` keeps the release's train/test parts as fold 1 / fold 0 (``n_folds=2``).
RIM-ONE stores stereo halves as ``<id>-L`` / ``<id>-R``; both halves are one patient.
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
    check_same_size,
    read_mask_rgb,
    read_rgb,
    safe_id,
)

TARGETS = ("cup", "disc")
_DOMAIN = re.compile(r"^Domain(\d+)$")


@dataclass
class Config(DatasetConfig):
    """Which structure is the foreground, and which domains to list."""

    root: str = "refuge-fundus-midss"  # the folder holding Domain1 ... DomainK
    target: str = "cup"  # "cup" (mask value 0) or "disc" (mask value < 255)
    domains: list[int] = field(default_factory=list)  # empty = every DomainK folder found


def _domains(cfg: Config) -> list[tuple[int, Path]]:
    root = Path(cfg.root)
    found = sorted((int(m[1]), p) for p in root.glob("Domain*") if (m := _DOMAIN.match(p.name)))
    if not found:
        raise DataError(f"{root}: no DomainK folders; dataset.root must hold Domain1 ... DomainK")
    chosen = [(k, p) for k, p in found if not cfg.domains or k in cfg.domains]
    absent = set(cfg.domains) - {k for k, _ in found}
    if absent:
        raise DataError(f"{root}: dataset.domains {sorted(absent)} not found; have "
                        f"{[k for k, _ in found]}")
    return chosen


def list_cases(cfg: Config) -> list[CaseRef]:
    """Every ROI image of the chosen domains; subset = ``domain<K>``."""
    if cfg.target not in TARGETS:
        raise ValueError(f"dataset.target={cfg.target!r}; use one of {TARGETS}")
    cases = []
    for k, folder in _domains(cfg):
        for part in ("train", "test"):
            for image in sorted((folder / part / "ROIs" / "image").glob("*.png")):
                mask = folder / part / "ROIs" / "mask" / image.name
                patient = re.sub(r"-[LR]$", "", image.stem)
                cases.append(CaseRef(safe_id(f"d{k}_{part}_{image.stem}"),
                                     safe_id(f"d{k}_{patient}"), str(image), (str(mask),),
                                     subset=f"domain{k}", extra={"domain": k, "part": part}))
    return cases


def load_case(ref: CaseRef, cfg: Config) -> Sample:
    """RGB image and the binary cup or disc mask."""
    image = read_rgb(ref.image)
    values = read_mask_rgb(ref.masks[0]).min(axis=2)  # grey stored as RGB: channels are equal
    check_same_size(image, values, ref.image, ref.masks[0])
    mask = values == 0 if cfg.target == "cup" else values < 255
    return Sample(ref.case_id, image, mask, None, ref.subset, {"target": cfg.target})


def official_folds(cases: list[CaseRef], cfg: Config) -> dict[str, int]:
    """The release's parts: ``test`` = fold 0, ``train`` = fold 1."""
    if cfg.n_folds != 2:
        raise ValueError(f"fold_scheme=official for refuge needs dataset.n_folds=2, not "
                         f"{cfg.n_folds}")
    return {c.case_id: 0 if c.extra["part"] == "test" else 1 for c in cases}


def layout_problems(cfg: Config) -> list[str]:
    """Masks without an image."""
    return [f"{mask}: mask without image; add the image or remove the mask"
            for _, folder in _domains(cfg) for part in ("train", "test")
            for mask in sorted((folder / part / "ROIs" / "mask").glob("*.png"))
            if not (mask.parent.parent / "image" / mask.name).exists()]
