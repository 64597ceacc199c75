"""The dataset adapter contract and the PNG/NIfTI readers every loader shares.

A loader is the module ``benchmarks/data/loaders/<id>.py`` defining:

- ``Config``: a dataclass extending :class:`DatasetConfig`;
- ``list_cases(cfg) -> list[CaseRef]``: every case of the release, in a stable order, with the
  patient it belongs to (the unit of the split);
- ``load_case(ref, cfg) -> Sample``: the image and binary reference mask at original size.

Loaders never normalise intensities (methods declare their own normalisation); they only bring
grey images to 3 channels and check that image and mask agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError


@dataclass
class DatasetConfig:
    """Fields every loader config has."""

    root: str = ""  # folder of the native release layout
    dims: str = "2d"  # "2d" or "3d"; methods declare which they support in card.yaml
    n_folds: int = 5  # patient-level folds
    split_seed: int = 0  # seed of the fold assignment (independent of the training seed)
    fold_scheme: str = "kfold"  # "kfold" (seeded, patient-level) or a loader-specific scheme
    # smallest image side (a volume's in-plane sides) accepted, in pixels: below it a file is an
    # export mistake (a 1x1 image loaded without a word, issue 19 item 6), not a scan
    min_size: int = 8


@dataclass
class VolumeConfig(DatasetConfig):
    """Fields of every 3D loader: how its volumes become the slices of 2D methods
    (:mod:`benchmarks.data.volumes`)."""

    dims: str = "3d"
    window: list[float] = field(default_factory=list)  # [lo, hi] in file units; [] = percentiles
    train_slices_per_volume: int = 0  # slices drawn per training volume for 2D methods; 0 = all
    train_fg_fraction: float = 0.33  # share with foreground (nnU-Net oversample_foreground_percent)
    max_volume_mb: float = 0.0  # refuse a volume whose float32 copy is larger; 0 = no limit


@dataclass(frozen=True)
class CaseRef:
    """One case as listed from disk (cheap: no pixels read)."""

    case_id: str  # unique within the dataset, filesystem-safe
    patient_id: str  # the split unit
    image: str  # path of the image (or volume)
    masks: tuple[str, ...]  # reference mask files, OR-ed together
    subset: str = "lesion"  # e.g. "lesion" / "normal", or a class name
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class Sample:
    """Pixels of one case at original size.

    image: 2D ``uint8 [H, W, 3]``; 3D ``float32 [X, Y, Z]`` in the file's intensity units.
    mask: ``bool``, the image's spatial shape.
    spacing_mm: per array axis, or ``None`` where the format stores none (PNG: pixel units).
    """

    case_id: str
    image: np.ndarray
    mask: np.ndarray
    spacing_mm: tuple[float, ...] | None
    subset: str = "lesion"
    meta: dict[str, Any] = field(default_factory=dict)


class DataError(ValueError):
    """A file that cannot be used as it is; the message names the file and the fix."""


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image as ``uint8 [H, W, 3]``; grey is repeated, RGBA must be opaque."""
    img = _open(path)
    if img.mode == "RGBA":
        alpha = np.asarray(img)[..., 3]
        if alpha.min() < 255:
            raise DataError(f"{path}: RGBA image with transparent pixels; flatten it to RGB first")
    if img.mode in ("I;16", "I"):
        arr = np.asarray(img).astype(np.float32)
        arr = (255 * (arr - arr.min()) / max(float(np.ptp(arr)), 1.0)).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    return np.asarray(img.convert("RGB"))


def check_min_size(sample: Sample, path: str, min_size: int) -> None:
    """:class:`DataError` naming ``path`` when the image (a volume: its first two axes) has a side
    below ``min_size`` pixels (``dataset.min_size``)."""
    sides = sample.mask.shape[:2]
    if min(sides) < min_size:
        raise DataError(f"{path}: image of {sides[1]}x{sides[0]} pixels is below the "
                        f"{min_size}-pixel minimum side (dataset.min_size); re-export it or "
                        "drop the case")


def check_same_size(image: np.ndarray, mask: np.ndarray, image_path: str, mask_path: str) -> None:
    """Raise :class:`DataError` when an image and its mask differ in size."""
    if image.shape[: mask.ndim] != mask.shape:
        raise DataError(
            f"{mask_path}: mask size {mask.shape[::-1]} differs from image {image_path} "
            f"size {image.shape[1::-1]}; re-export the pair at one size or drop the case"
        )


def _open(path: str | Path, decode: bool = True) -> Image.Image:
    """Open an image; ``decode=False`` reads only its header. Failures name the file."""
    if not Path(path).exists():
        raise DataError(f"{path}: file not found; check the dataset root and its layout")
    try:
        img = Image.open(path)
        if decode:
            img.load()
    # ImportError: ultralytics replaces Image.open with a version that, on an unidentified file,
    # imports the optional pi-heif package, so a corrupt PNG surfaces as ModuleNotFoundError.
    except (UnidentifiedImageError, OSError, ImportError) as err:
        raise DataError(f"{path}: cannot decode image ({err}); replace the file") from err
    return img


# --- shared helpers for the native-layout loaders -------------------------------------------------

SKIP_KEY = "skip_reason"  # CaseRef.extra key: the case is listed but excluded by config, with why


def safe_id(text: str) -> str:
    """A filesystem-safe id: runs of anything but letters, digits, ``._-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def read_mask_rgb(path: str | Path) -> np.ndarray:
    """Read a mask as ``uint8 [H, W, 3]``; transparent pixels (alpha 0) become black.

    It never counts the alpha channel as foreground, which
    matters for RGBA masks such as BUSI's ``_mask_1.png`` (alpha 255 everywhere).
    """
    img = _open(path)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        arr = np.asarray(img.convert("RGBA"))
        return np.where(arr[..., 3:] > 0, arr[..., :3], 0).astype(np.uint8)
    return np.asarray(img.convert("RGB"))


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask file as ``bool [H, W]``: any non-zero colour channel of an opaque pixel."""
    return read_mask_rgb(path).any(axis=2)


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` from the file header only (cheap: no pixels decoded)."""
    with _open(path, decode=False) as img:
        return img.size


def read_image_and_masks(image_path: str,
                         mask_paths: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """An RGB image and the OR of its mask files, each checked to be the image's size."""
    image = read_rgb(image_path)
    if not mask_paths:
        raise DataError(f"{image_path}: no mask file found for this image; add its mask or "
                        "remove the image from the release folder")
    mask = np.zeros(image.shape[:2], bool)
    for path in mask_paths:
        part = read_mask(path)
        check_same_size(image, part, image_path, path)
        mask |= part
    return image, mask


def read_nifti_pair(image_path: str, label_path: str) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Read a volume and its label map, reoriented to RAS, with trailing 1-sized axes dropped.

    Returns ``(image float32 [X, Y, Z], labels int64 [X, Y, Z], spacing_mm)`` where spacing is
    in array-axis order after reorientation. Raises :class:`DataError` naming the file when the
    two differ in shape or in their voxel-to-world affine.
    """
    img, lab = _canonical(image_path), _canonical(label_path)
    if img.shape != lab.shape:
        raise DataError(f"{label_path}: shape {lab.shape} differs from image {image_path} "
                        f"{img.shape}; pair each label with the volume it was drawn on")
    if not np.allclose(img.affine, lab.affine, atol=1e-3):
        raise DataError(f"{label_path}: affine differs from image {image_path}; the label is "
                        "not on the image grid (resample it onto the image)")
    spacing = tuple(float(z) for z in img.header.get_zooms()[:3])
    image = _finite(np.asarray(img.dataobj, dtype=np.float32), image_path, "image",
                    "set them to the background intensity")
    raw = _finite(np.asarray(lab.dataobj), label_path, "label map",
                  "labels are integer ids; repair the label file")
    # Reorienting a non-RAS file (LPS: msam-demo, the TotalSegmentator MR) leaves a flipped view
    # with negative strides, which torch.from_numpy refuses: one contiguous copy here, at load
    # (the flipped original is freed), so every later stage holds one plain array.
    return np.ascontiguousarray(image), np.rint(raw).astype(np.int64), spacing


def _finite(arr: np.ndarray, path: str, what: str, fix: str) -> np.ndarray:
    """``arr`` unchanged, or :class:`DataError` naming ``path`` when it holds NaN or inf voxels.

    An error, not a repair: a NaN voxel has no right value to stand for (0 is a real intensity in
    CT and MR, and NaN labels once became background silently), so the file must be fixed. The
    harness records the error per case (``bad_input``) and ``cli check-data`` lists it.
    """
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        n = int(arr.size - np.isfinite(arr).sum())
        raise DataError(f"{path}: {n} NaN or infinite voxels in the {what}; {fix} "
                        "or remove the case")
    return arr


def _canonical(path: str) -> Any:
    import nibabel as nib

    if not Path(path).exists():
        raise DataError(f"{path}: file not found; check the dataset root and its layout")
    try:
        img = nib.funcs.squeeze_image(nib.load(path))  # (X, Y, Z, 1, 1) -> (X, Y, Z)
    except Exception as err:  # nibabel raises several unrelated types on a damaged file
        raise DataError(f"{path}: cannot read NIfTI ({err}); replace the file") from err
    if img.ndim != 3:
        raise DataError(f"{path}: {img.ndim}-D volume of shape {img.shape}; expected one 3D "
                        "volume (split multi-channel files into one file per channel)")
    return nib.as_closest_canonical(img)


def volume_sample(ref: CaseRef, label: int, subset: str) -> Sample:
    """A 3D case: RAS volume, mask of ``label`` (0 = any non-zero label) and spacing in mm."""
    image, labels, spacing = read_nifti_pair(ref.image, ref.masks[0])
    mask = labels > 0 if label == 0 else labels == label
    meta = {"label": label, "labels_present": sorted(int(v) for v in np.unique(labels) if v)}
    return Sample(ref.case_id, image, mask, spacing, subset, meta)
