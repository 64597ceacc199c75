"""Volumes for methods that consume them as 2D slices (numpy only: no torch).

The harness owns what must be identical across methods on a 3D dataset:

- **Intensity windowing** to the ``uint8`` grey images every 2D method already takes: the window is
  declared per dataset (``dataset.window``, e.g. an abdominal CT window in HU) and may be replaced
  per method (an optional ``Config.window``); an empty window means the volume's own 0.5-99.5th
  percentiles (MR, where intensities have no absolute unit). Methods then apply their own
  normalisation to the [0, 1] image as they do on 2D data.
- **Slices**: slice ``z`` is ``volume[:, :, z]`` (array axis 2 after RAS reorientation; rows =
  array axis 0), the convention of the prompts files (:mod:`benchmarks.data.prompts`).
- **Training-slice sampling**: ``dataset.train_slices_per_volume`` slices per training volume
  (0 = every slice), a ``dataset.train_fg_fraction`` share of them drawn from slices that hold
  foreground (oversampling, as nnU-Net does for patches), seeded by the run's seed and the case.
  Only volumes of the training folds are sliced, so the patient-level split is unchanged.
- **Stacking**: per-slice predictions go back into a volume of the original shape; the spacing is
  untouched because slices are never resampled here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data.base import DataError, Sample
from benchmarks.data.prompts import case_rng

SLICE_AXIS = 2  # axial after RAS reorientation; prompts.volume_prompts uses the same axis
PERCENTILES = (0.5, 99.5)  # nnU-Net's foreground clipping percentiles, used when no window is set


class VolumeError(ValueError):
    """A volume configuration that cannot work (bad window, bad sampling share)."""


def window_of(dcfg: Any, mcfg: Any = None) -> tuple[float, float] | None:
    """The intensity window ``(lo, hi)``: the method's ``window`` if set, else the dataset's;
    ``None`` = per-volume percentiles."""
    for source, where in ((mcfg, "method.window"), (dcfg, "dataset.window")):
        window = list(getattr(source, "window", None) or [])
        if window:
            if len(window) != 2 or not float(window[0]) < float(window[1]):
                raise VolumeError(f"{where}={window}: give [low, high] with low < high")
            return float(window[0]), float(window[1])
    return None


def describe_window(window: tuple[float, float] | None) -> str:
    """How intensities were mapped, for provenance."""
    if window is None:
        return f"per-volume percentiles {PERCENTILES[0]}-{PERCENTILES[1]} -> [0, 255]"
    return f"window [{window[0]:g}, {window[1]:g}] -> [0, 255]"


def check_size(path: str, dcfg: Any) -> None:
    """:class:`DataError` naming ``path`` when its float32 copy exceeds ``dataset.max_volume_mb``
    (read from the header only; 0 = no limit). Missing files are left to the loader to name."""
    limit = float(getattr(dcfg, "max_volume_mb", 0.0) or 0.0)
    if limit <= 0 or not Path(path).exists():
        return
    import nibabel as nib

    shape = nib.load(path).shape
    size_mb = float(np.prod(shape)) * 4 / 2**20
    if size_mb > limit:
        raise DataError(f"{path}: volume {shape} needs {size_mb:.0f} MB as float32, more than "
                        f"dataset.max_volume_mb={limit:g}; raise the limit (and the job's mem_gb) "
                        "or crop the volume to the body")


def describe(dcfg: Any, mcfg: Any) -> dict[str, Any]:
    """What the harness did to a run's volumes, for provenance."""
    return {"volume_input": "slices", "slice_axis": SLICE_AXIS,
            "intensity": describe_window(window_of(dcfg, mcfg)),
            "train_slices_per_volume": int(dcfg.train_slices_per_volume),
            "train_fg_fraction": float(dcfg.train_fg_fraction)}


def bounds(volume: np.ndarray, window: tuple[float, float] | None) -> tuple[float, float]:
    """The intensity range mapped to the output range: the window, or the volume's percentiles
    (numpy scalars, as both callers computed them before)."""
    lo, hi = window if window is not None else np.percentile(volume, PERCENTILES)
    return lo, hi


def to_uint8(volume: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    """Clip a volume to the window (or its percentiles) and scale it to ``uint8``."""
    lo, hi = bounds(volume, window)
    scale = 255.0 / max(float(hi) - float(lo), 1e-6)
    out = np.empty(volume.shape, np.uint8)  # one uint8 copy, filled slice by slice
    for z in range(volume.shape[SLICE_AXIS]):
        out[:, :, z] = np.clip((volume[:, :, z] - lo) * scale, 0, 255)
    return out


def slice_sample(volume_u8: np.ndarray, sample: Sample, z: int) -> Sample:
    """Slice ``z`` of a windowed volume as a 2D sample (grey repeated to 3 channels)."""
    grey = volume_u8[:, :, z]
    spacing = None if sample.spacing_mm is None else tuple(sample.spacing_mm[:2])
    return Sample(f"{sample.case_id}_z{z:04d}", np.repeat(grey[:, :, None], 3, axis=2),
                  sample.mask[:, :, z], spacing, sample.subset,
                  {**sample.meta, "volume_id": sample.case_id, "slice_index": z})


def training_slices(mask: np.ndarray, count: int, fg_fraction: float,
                    rng: np.random.Generator) -> list[int]:
    """Sorted slice indices to train on: ``count`` of them (0 = all), ``fg_fraction`` with
    foreground where the volume has enough such slices, the rest from the other slices."""
    if not 0.0 <= fg_fraction <= 1.0:
        raise VolumeError(f"dataset.train_fg_fraction={fg_fraction}: must lie in [0, 1]")
    n = mask.shape[SLICE_AXIS]
    if count <= 0 or count >= n:
        return list(range(n))
    has_fg = mask.reshape(-1, n).any(axis=0)
    fg, bg = np.flatnonzero(has_fg), np.flatnonzero(~has_fg)
    n_fg = min(len(fg), round(count * fg_fraction))
    n_bg = min(len(bg), count - n_fg)
    n_fg = min(len(fg), count - n_bg)  # too few background slices: fill with foreground ones
    chosen = np.concatenate([rng.choice(fg, n_fg, replace=False),
                             rng.choice(bg, n_bg, replace=False)])
    return sorted(int(z) for z in chosen)


def training_samples(sample: Sample, dcfg: Any, mcfg: Any, seed: int) -> list[Sample]:
    """The sampled, windowed training slices of one training volume."""
    rng = case_rng(seed, sample.case_id)
    picked = training_slices(sample.mask, int(dcfg.train_slices_per_volume),
                             float(dcfg.train_fg_fraction), rng)
    volume_u8 = to_uint8(sample.image, window_of(dcfg, mcfg))
    return [slice_sample(volume_u8, sample, z) for z in picked]


def stack(slices: Sequence[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """Per-slice 2D masks back into one ``bool`` volume of the original ``shape``."""
    if len(slices) != shape[SLICE_AXIS]:
        raise VolumeError(f"{len(slices)} slice predictions for a volume of shape {shape}")
    out = np.stack(slices, axis=SLICE_AXIS).astype(bool)
    if out.shape != tuple(shape):
        raise VolumeError(f"stacked prediction {out.shape} != volume {tuple(shape)}")
    return out
