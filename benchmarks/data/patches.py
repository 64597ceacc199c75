"""Volumes for methods that consume them as 3D patches (card ``volumes: patches``; torch side).

What the harness owns, identical for every patch method (issue 11; nnU-Net's choices unless noted):

- **Intensities**: the volume is clipped to the window of :func:`volumes.window_of` (CT: the
  dataset's HU window, or the method's ``Config.window``; MR: the volume's 0.5-99.5th percentiles)
  and scaled to **[0, 1]** float32, in place (the same mapping the slice path gives 2D methods, as
  floats; a fixed CT window keeps HU comparable across volumes, as nnU-Net's global CT scheme).
- **Resampling, on the fly**: the network sees ``Config.patch_size`` voxels at
  ``Config.target_spacing``. A patch is cut from the volume at its own spacing as a window of
  ``round(patch * target / spacing)`` voxels and resampled to the patch with trilinear
  interpolation (``torch.nn.functional.interpolate``, ``align_corners=False``); predicted
  probabilities go back to the window the same way (linear on probabilities, thresholded only at
  the original grid). No resampled copy of a whole volume ever exists.
- **Training patches**: batches of ``batch_size`` windows from the training volumes, seeded by the
  run's seed; as nnU-Net's ``oversample_foreground_percent``, the last
  ``round(B * dataset.train_fg_fraction)`` items of every batch are centred on a random foreground
  voxel (when the volume has one), the others are uniformly placed. No augmentation.
- **Inference**: ``monai.inferers.sliding_window_inference`` over the volume at its original grid
  (window as above, overlap ``Config.sw_overlap``, blend ``Config.sw_blend``, Gaussian sigma 1/8 of
  the window as nnU-Net). Predictions come back at the **original** shape and voxel spacing.
- **Memory**: the normalised volume is the loaded float32 array itself; besides it, inference holds
  MONAI's output and count buffers (one float32 map each) and one window at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.data import volumes
from benchmarks.data.base import DataError, Sample

SIGMA_SCALE = 0.125  # nnU-Net's Gaussian importance map: sigma = 1/8 of the window
SW_BATCH = 1  # windows per forward pass in sliding-window inference (CPU-friendly)


def normalise(volume: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    """Clip to ``window`` (None: the volume's percentiles) and scale to [0, 1], in place when the
    volume is float32 already (the loaders' dtype): no second copy."""
    out = np.asarray(volume, dtype=np.float32)
    lo, hi = volumes.bounds(out, window)
    np.clip(out, lo, hi, out=out)
    out -= np.float32(lo)
    out *= np.float32(1.0 / max(float(hi) - float(lo), 1e-6))
    return out


def window_voxels(spacing: Sequence[float], target: Sequence[float], patch: Sequence[int]
                  ) -> tuple[int, ...]:
    """Voxels of a volume at ``spacing`` covering ``patch`` voxels at ``target`` spacing."""
    return tuple(max(1, round(p * t / s)) for p, t, s in zip(patch, target, spacing, strict=True))


def resample(tensor: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Trilinear resampling of ``[B, C, X, Y, Z]`` to ``size`` (the same tensor when equal)."""
    if tuple(tensor.shape[2:]) == tuple(size):
        return tensor
    return F.interpolate(tensor, size=tuple(size), mode="trilinear", align_corners=False)


def crop(array: np.ndarray, start: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """``array[start:start+size]`` per axis, zero-padded where the window leaves the volume."""
    out = np.zeros(tuple(size), array.dtype)
    src = tuple(slice(max(a, 0), min(a + n, dim))
                for a, n, dim in zip(start, size, array.shape, strict=True))
    dst = tuple(slice(s.start - a, s.stop - a) for s, a in zip(src, start, strict=True))
    out[dst] = array[src]
    return out


def window_start(shape: Sequence[int], size: Sequence[int], rng: np.random.Generator,
                 centre: Sequence[int] | None = None) -> list[int]:
    """Lower corner of a window: uniform over the positions that keep the window inside the volume
    (the volume inside the window where it is the smaller), or centred on ``centre`` and clipped
    to that range (so the centre voxel is always in the patch)."""
    starts = []
    for axis, (dim, n) in enumerate(zip(shape, size, strict=True)):
        lo, hi = min(0, dim - n), max(0, dim - n)
        pick = rng.integers(lo, hi + 1) if centre is None else centre[axis] - n // 2
        starts.append(int(np.clip(pick, lo, hi)))
    return starts


def training_patch(sample: Sample, mcfg: Any, force_fg: bool, rng: np.random.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``[1, *patch]`` image patch and its ``uint8`` mask (linear resampling, then > 0.5,
    the suite's one threshold rule)."""
    size = window_voxels(sample.spacing_mm, mcfg.target_spacing, mcfg.patch_size)
    centre = None
    if force_fg and sample.mask.any():
        fg = np.flatnonzero(sample.mask)  # nnU-Net picks a random foreground voxel
        centre = np.unravel_index(fg[rng.integers(len(fg))], sample.mask.shape)
    start = window_start(sample.mask.shape, size, rng, centre)
    image = torch.from_numpy(crop(sample.image, start, size))[None, None]
    mask = torch.from_numpy(crop(sample.mask, start, size).astype(np.float32))[None, None]
    patch = tuple(mcfg.patch_size)
    return resample(image, patch)[0], (resample(mask, patch)[0] > 0.5).to(torch.uint8)


def forced_items(batch_size: int, fg_fraction: float) -> list[bool]:
    """Which items of a batch are centred on foreground (nnU-Net's ``get_do_oversample``)."""
    if not 0.0 <= fg_fraction <= 1.0:
        raise volumes.VolumeError(f"dataset.train_fg_fraction={fg_fraction}: must lie in [0, 1]")
    return [i >= round(batch_size * (1 - fg_fraction)) for i in range(batch_size)]


def training_volumes(data: Any, case_ids: list[str], mcfg: Any) -> list[Sample]:
    """The training volumes of a run, normalised in place (``data``: a ``cases.RunData``)."""
    window = volumes.window_of(data.dcfg, mcfg)
    samples = []
    for case_id in case_ids:
        sample = data.load(case_id)
        _check_spacing(sample)
        samples.append(Sample(sample.case_id, normalise(sample.image, window), sample.mask,
                              sample.spacing_mm, sample.subset, sample.meta))
    return samples


def _check_spacing(sample: Sample) -> None:
    if sample.spacing_mm is None or len(sample.spacing_mm) != 3:
        raise DataError(f"case {sample.case_id}: a patch method needs a 3D voxel spacing; the "
                        f"loader gave {sample.spacing_mm} (use a NIfTI loader with a header)")


def training_batches(samples: list[Sample], mcfg: Any, fg_fraction: float, seed: int
                     ) -> Iterator[dict[str, Any]]:
    """Endless seeded batches of training patches from normalised volumes."""
    rng = np.random.default_rng([seed, 0x3D])  # the patch stream of this run's seed
    forced = forced_items(int(mcfg.batch_size), fg_fraction)
    while True:
        picks = [samples[int(rng.integers(len(samples)))] for _ in forced]
        items = [training_patch(s, mcfg, f, rng) for s, f in zip(picks, forced, strict=True)]
        yield {"image": torch.stack([i for i, _ in items]),
               "mask": torch.stack([m for _, m in items]),
               "meta": [_meta(s.case_id, mcfg) for s in picks]}


def _meta(case_id: str, mcfg: Any) -> dict[str, Any]:
    return {"case_id": case_id, "slice_index": -1, "spacing_mm": tuple(mcfg.target_spacing),
            "original_shape": tuple(mcfg.patch_size)}


def predict_case(module: Any, model: torch.nn.Module, mcfg: Any, data: Any, case_id: str,
                 device: torch.device) -> np.ndarray:
    """Foreground probabilities of one test volume at its original shape (``data``: RunData)."""
    sample = data.load(case_id)
    _check_spacing(sample)
    image = normalise(sample.image, volumes.window_of(data.dcfg, mcfg))
    return predict_volume(module, model, mcfg, image, sample.spacing_mm, device, case_id)


def predict_volume(module: Any, model: torch.nn.Module, mcfg: Any, image: np.ndarray,
                   spacing: Sequence[float], device: torch.device, case_id: str = ""
                   ) -> np.ndarray:
    """Foreground probabilities of a normalised volume at its original shape (float32)."""
    from monai.inferers import sliding_window_inference

    size = window_voxels(spacing, mcfg.target_spacing, mcfg.patch_size)
    patch = tuple(mcfg.patch_size)

    def predictor(windows: torch.Tensor) -> torch.Tensor:
        batch = {"image": resample(windows, patch),
                 "meta": [_meta(case_id, mcfg)] * len(windows)}
        return resample(module.predict(model, batch, mcfg), windows.shape[2:])

    inputs = torch.from_numpy(image)[None, None]  # shares the volume's memory
    with torch.no_grad():
        prob = sliding_window_inference(inputs, size, SW_BATCH, predictor,
                                        overlap=float(mcfg.sw_overlap), mode=str(mcfg.sw_blend),
                                        sigma_scale=SIGMA_SCALE, sw_device=device, device="cpu")
    return prob[0, 0].numpy()


def describe(dcfg: Any, mcfg: Any) -> dict[str, Any]:
    """What the harness did to a run's volumes, for provenance."""
    window = volumes.window_of(dcfg, mcfg)
    intensity = volumes.describe_window(window).replace("[0, 255]", "[0, 1] float32")
    return {"volume_input": "patches", "intensity": intensity,
            "target_spacing_mm": [float(s) for s in mcfg.target_spacing],
            "patch_size": [int(p) for p in mcfg.patch_size],
            "resampling": "on the fly per window of round(patch*target/spacing) voxels: "
                          "trilinear image -> patch, trilinear probabilities -> window "
                          "(torch interpolate, align_corners=False); threshold at original grid",
            "train_fg_fraction": float(dcfg.train_fg_fraction),
            "train_sampling": "nnU-Net: last round(B*fg_fraction) items of a batch centred on a "
                              "random foreground voxel, others uniform; seeded; no augmentation",
            "sliding_window": "monai.inferers.sliding_window_inference",
            "sw_overlap": float(mcfg.sw_overlap), "sw_blend": str(mcfg.sw_blend),
            "sw_sigma_scale": SIGMA_SCALE, "predictions": "original shape and voxel spacing"}
