"""The torch side of the harness: samples turned into method batches, seeding, device choice.

Only train and predict import this module (and with it torch); evaluate, aggregate, report,
make_split and make_prompts never do (tests/unit/test_startup.py).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.data import prompts
from benchmarks.data.base import Sample


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator for data order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def select_device(name: str) -> torch.device:
    """``"auto"`` picks CUDA when present, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The batch with every tensor on ``device`` (meta stays as it is)."""
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """``uint8 [H, W, 3]`` -> ``float32 [3, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).float().div(255.0)


def prompt_fields(prompt: dict[str, Any] | None, protocol: prompts.Protocol | None,
                  src_hw: tuple[int, int], dst_hw: tuple[int, int], flip: bool = False
                  ) -> dict[str, torch.Tensor]:
    """A 2D case prompt as Batch fields in ``dst_hw`` pixels (coordinates scaled as SAM's
    ``ResizeLongestSide.apply_coords``; ``flip`` mirrors x as the image is mirrored).

    Box protocols give ``box`` float32 ``[4]`` (NaN when the mask is empty); click protocols give
    ``points`` float32 ``[N, 2]`` and ``point_labels`` int64 ``[N]``, padded with label -1 (SAM's
    padding label) up to the protocol's N. No protocol: no fields.
    """
    if protocol is None:
        return {}
    if prompt is not None and "slices" in prompt:  # a volume's per-slice prompts
        raise prompts.PromptError("3D prompts of a whole volume reach 2D methods slice by slice "
                                  "(RunData.sample_prompt); no method takes a volume at once yet")
    scale = torch.tensor([dst_hw[1] / src_hw[1], dst_hw[0] / src_hw[0]])
    if protocol.box:
        raw = (prompt or {}).get("box")
        box = torch.full((4,), float("nan")) if raw is None else (
            torch.tensor(raw, dtype=torch.float32).view(2, 2) * scale).view(4)
        if flip and raw is not None:
            box = torch.stack([dst_hw[1] - 1 - box[2], box[1], dst_hw[1] - 1 - box[0], box[3]])
        return {"box": box}
    n = protocol.n_pos + protocol.n_neg
    points, labels = torch.zeros(n, 2), torch.full((n,), -1, dtype=torch.int64)
    given = (prompt or {}).get("points") or []
    if given:
        points[: len(given)] = torch.tensor(given, dtype=torch.float32)[:, :2] * scale
        labels[: len(given)] = torch.tensor(prompt["point_labels"], dtype=torch.int64)
        if flip:
            points[: len(given), 0] = dst_hw[1] - 1 - points[: len(given), 0]
    return {"points": points, "point_labels": labels}


GEOMETRIES = ("squash", "letterbox")  # card ``resize:``; squash when absent


def content_shape(shape: tuple[int, int], size: int, geometry: str) -> tuple[int, int]:
    """(h, w) of the image inside a ``size`` square: the square itself (``squash``), or the
    longest side at ``size`` with the aspect kept (``letterbox``; SamProcessor's
    ``get_preprocess_shape`` rounding, ``int(x * scale + 0.5)``)."""
    if geometry == "squash":
        return size, size
    if geometry != "letterbox":
        raise ValueError(f"card resize: {geometry!r}; use one of {GEOMETRIES}")
    scale = size / max(shape)
    return int(shape[0] * scale + 0.5), int(shape[1] * scale + 0.5)


def _fit(x: torch.Tensor, hw: tuple[int, int], size: int, mode: str, flip: bool) -> torch.Tensor:
    """``[C, H, W]`` resized to ``hw``, mirrored when ``flip``, zero-padded bottom/right to the
    ``size`` square (as SamProcessor and torchvision pad; the content stays top-left)."""
    kwargs = {"align_corners": False, "antialias": True} if mode == "bilinear" else {}
    out = F.interpolate(x[None], size=hw, mode=mode, **kwargs)[0]
    out = out.flip(-1) if flip else out
    return F.pad(out, (0, size - hw[1], 0, size - hw[0]))


def resized(sample: Sample, size: int, flip: bool = False,
            prompt: dict[str, Any] | None = None,
            protocol: prompts.Protocol | None = None,
            coarse: np.ndarray | None = None, geometry: str = "squash") -> dict[str, Any]:
    """One training item at ``size`` x ``size`` (bilinear image, nearest mask), with its prompt
    and, when given, an earlier phase's soft mask ``coarse`` (bilinear, flipped with the image).

    ``geometry`` (the card's ``resize:``): ``squash`` stretches the image to the square;
    ``letterbox`` keeps its aspect (longest side ``size``) and pads bottom/right with zeros, the
    geometry SamProcessor and torchvision's detection transform give the same model at test;
    ``meta["content_shape"]`` is the (h, w) of the image inside the square."""
    hw = content_shape(sample.mask.shape[:2], size, geometry)
    img = _fit(image_tensor(sample.image), hw, size, "bilinear", flip)
    mask = torch.from_numpy(sample.mask.astype(np.uint8))[None].float()
    mask = _fit(mask, hw, size, "nearest", flip).to(torch.uint8)
    fields = prompt_fields(prompt, protocol, sample.mask.shape[:2], hw, flip)
    if coarse is not None:
        fields["coarse"] = _coarse_field(coarse, sample, hw, size, flip)
    meta = _meta(sample) | {"content_shape": hw}
    return {"image": img, "mask": mask, "meta": meta} | fields


def _coarse_field(coarse: np.ndarray, sample: Sample, hw: tuple[int, int], size: int,
                  flip: bool) -> torch.Tensor:
    """An out-of-fold soft mask ``[H, W]`` of the sample as float32 ``[1, size, size]``."""
    if coarse.shape != sample.mask.shape:
        raise ValueError(f"case {sample.case_id}: out-of-fold mask of shape {coarse.shape}, the "
                         f"image is {sample.mask.shape}: rerun the out-of-fold predictions")
    out = F.interpolate(torch.from_numpy(np.asarray(coarse, np.float32))[None, None],
                        size=hw, mode="bilinear", align_corners=False)[0].clamp(0, 1)
    out = out.flip(-1) if flip else out
    return F.pad(out, (0, size - hw[1], 0, size - hw[0]))


def _meta(sample: Sample) -> dict[str, Any]:
    """Meta of a 2D image, or of one volume slice (the volume's id and the slice index)."""
    return {"case_id": sample.meta.get("volume_id", sample.case_id),
            "slice_index": sample.meta.get("slice_index", -1), "spacing_mm": sample.spacing_mm,
            "original_shape": tuple(sample.mask.shape)}


def original_batch(sample: Sample, prompt: dict[str, Any] | None = None,
                   protocol: prompts.Protocol | None = None) -> dict[str, Any]:
    """A batch of one sample at its original size (what ``predict`` receives)."""
    shape = sample.mask.shape[:2]
    fields = prompt_fields(prompt, protocol, shape, shape)
    return {"image": image_tensor(sample.image)[None], "meta": [_meta(sample)]} | {
        key: value[None] for key, value in fields.items()}


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack equally sized items into a :class:`methods._api.Batch` (prompt fields included)."""
    keys = ("image", "mask", "box", "points", "point_labels", "coarse")
    tensors = [k for k in keys if k in items[0]]
    return {k: torch.stack([i[k] for i in items]) for k in tensors} | {
        "meta": [i["meta"] for i in items]}
