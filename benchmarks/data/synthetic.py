"""Deterministic synthetic data: breast-ultrasound-like 2D images and a small 3D NIfTI set.

2D (``write_bus``): speckled tissue layers, a hypoechoic lesion of random irregular shape and size
with posterior acoustic shadowing or enhancement, and some lesion-free ("normal") images. Written as
``images/<case>.png`` (grey), ``masks/<case>.png`` (0/255) and ``cases.csv`` (case, patient,
subset).

3D (``write_ct``): nnU-Net layout (``imagesTr/<case>_0000.nii.gz``, ``labelsTr/<case>.nii.gz``) with
anisotropic spacing in the header, one or two ellipsoid "organs" (labels 1, 2) in a noisy body.
The same seed always gives the same bytes of pixel data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage as ndi

from benchmarks.core.io import atomic_path, write_table

BUS_SHAPE = (128, 160)  # (H, W): small enough for CPU training, non-square to exercise resizing
CT_SHAPE = (48, 48, 20)  # (X, Y, Z)
CT_SPACING = (0.8, 0.8, 2.5)  # mm, anisotropic on purpose


def _lesion_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """An irregular blob: a radius that varies smoothly with angle (random harmonics)."""
    h, w = shape
    cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.25, 0.75) * w
    base = rng.uniform(0.08, 0.22) * min(h, w)
    yy, xx = np.mgrid[:h, :w]
    theta = np.arctan2(yy - cy, (xx - cx) / rng.uniform(1.0, 1.8))
    radius = base * (1 + sum(rng.uniform(0, 0.25 / k) * np.cos(k * theta + rng.uniform(0, 6.3))
                             for k in range(2, 6)))
    dist = np.hypot(yy - cy, (xx - cx) / rng.uniform(1.0, 1.8))
    return dist <= radius


def _tissue(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Layered echogenic background whose brightness falls with depth (attenuation)."""
    h, w = shape
    depth = np.linspace(1.0, 0.55, h)[:, None]
    layers = ndi.gaussian_filter(rng.normal(0.0, 1.0, (h, w)), sigma=(2.0, 12.0))
    return np.clip(0.5 + 0.12 * layers, 0.1, 1.0) * depth


def bus_image(seed: int, with_lesion: bool) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic ultrasound image (uint8 [H, W]) and its mask (bool [H, W])."""
    rng = np.random.default_rng(seed)
    echo = _tissue(rng, BUS_SHAPE)
    mask = _lesion_mask(rng, BUS_SHAPE) if with_lesion else np.zeros(BUS_SHAPE, bool)
    if with_lesion:
        soft = ndi.gaussian_filter(mask.astype(float), 1.0)
        echo = echo * (1 - 0.75 * soft)  # hypoechoic lesion
        below = np.cumsum(mask, axis=0) > 0  # columns under the lesion
        gain = rng.choice([0.55, 1.35])  # posterior shadowing or enhancement
        echo = echo * np.where(below & ~mask, gain, 1.0)
    speckle = rng.rayleigh(scale=0.8, size=BUS_SHAPE)  # multiplicative speckle
    img = ndi.gaussian_filter(echo * speckle, 0.7)
    return np.clip(img * 200, 0, 255).astype(np.uint8), mask


def write_bus(root: Path, n_cases: int = 40, seed: int = 0, normal_every: int = 6) -> pd.DataFrame:
    """Write the 2D set; two images per patient, every ``normal_every``-th image lesion-free."""
    rows = []
    for i in range(n_cases):
        case_id = f"bus_{i:04d}"
        normal = (i % normal_every) == normal_every - 1
        img, mask = bus_image(seed * 100_003 + i, with_lesion=not normal)
        _save_png(root / "images" / f"{case_id}.png", img)
        _save_png(root / "masks" / f"{case_id}.png", mask.astype(np.uint8) * 255)
        rows.append({"case_id": case_id, "patient_id": f"p{i // 2:03d}",
                     "subset": "normal" if normal else "lesion"})
    table = pd.DataFrame(rows)
    write_table(root / "cases.csv", table)
    return table


def ct_volume(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic CT-like volume (float32 HU [X, Y, Z]) and its label map (uint8)."""
    rng = np.random.default_rng(seed)
    axes = [np.arange(n) * s for n, s in zip(CT_SHAPE, CT_SPACING, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"))
    extent = np.array(CT_SHAPE) * np.array(CT_SPACING)
    labels = np.zeros(CT_SHAPE, np.uint8)
    for label in (1, 2)[: rng.integers(1, 3)]:
        centre = rng.uniform(0.3, 0.7, 3) * extent
        radii = rng.uniform([5, 5, 8], [10, 10, 16])
        inside = (((grid - centre[:, None, None, None]) / radii[:, None, None, None]) ** 2).sum(0)
        labels[(inside <= 1) & (labels == 0)] = label
    hu = np.where(labels == 1, 60.0, np.where(labels == 2, 150.0, 0.0))
    noise = ndi.gaussian_filter(rng.normal(0, 25, CT_SHAPE), 0.8)
    return (hu - 20 + noise).astype(np.float32), labels


def write_ct(root: Path, n_cases: int = 6, seed: int = 0) -> pd.DataFrame:
    """Write the 3D set in nnU-Net layout with the spacing in the NIfTI header."""
    import nibabel as nib  # only the 3D path needs it

    affine = np.diag([*CT_SPACING, 1.0])
    rows = []
    for i in range(n_cases):
        case_id = f"ct_{i:03d}"
        vol, lab = ct_volume(seed * 100_003 + i)
        for sub, arr in (("imagesTr", vol), ("labelsTr", lab)):
            name = f"{case_id}_0000.nii.gz" if sub == "imagesTr" else f"{case_id}.nii.gz"
            with atomic_path(root / sub / name) as tmp:
                nib.save(nib.Nifti1Image(arr, affine), str(tmp.with_suffix(".nii.gz")))
                tmp.with_suffix(".nii.gz").replace(tmp)
        rows.append({"case_id": case_id, "patient_id": case_id, "subset": "volume"})
    table = pd.DataFrame(rows)
    write_table(root / "cases.csv", table)
    return table


def _save_png(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
