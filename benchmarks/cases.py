"""A run's data: the dataset loader, its split, and samples turned into method batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from benchmarks import config, grid, prompts, splits
from benchmarks.data.base import CaseRef, Sample


@dataclass
class RunData:
    """The dataset side of one run."""

    loader: ModuleType
    dcfg: Any  # the loader's Config instance
    split: dict[str, Any]
    split_sha256: str
    refs: dict[str, CaseRef]
    protocol: prompts.Protocol | None = None  # None: the method takes no prompts
    prompts: dict[str, Any] | None = None  # the pinned prompts document of the run
    prompts_sha256: str | None = None

    def case_ids(self, fold: int, part: str) -> list[str]:
        """Sorted ids of the test fold or of the training folds."""
        return splits.select(self.split, fold, part)

    def load(self, case_id: str) -> Sample:
        """Pixels of one case (raises ``DataError`` naming the file on bad input)."""
        return self.loader.load_case(self.refs[case_id], self.dcfg)

    def prompt(self, case_id: str) -> dict[str, Any] | None:
        """The case's entry of the prompts file (original pixel coordinates), or None."""
        return None if self.prompts is None else prompts.for_case(self.prompts, case_id)


def open_run(cfg: DictConfig) -> RunData:
    """Load the split named by ``cfg.split_file`` and list the dataset's cases."""
    loader, dcfg = config.dataset_config(cfg)
    split, sha = splits.read_split(cfg.split_file)
    refs = {ref.case_id: ref for ref in loader.list_cases(dcfg)}
    unknown = sorted(set(split["cases"]) - set(refs))
    if unknown:
        raise splits.SplitError(f"{cfg.split_file}: cases {unknown[:5]} are not in {dcfg.root}; "
                                "the data changed since the split was written: delete and rerun")
    if cfg.prompt == grid.NO_PROMPT:
        return RunData(loader, dcfg, split, sha, refs)
    if not cfg.prompts_file:
        raise prompts.PromptError(f"prompt={cfg.prompt} needs prompts_file=<path> "
                                  "(written by `cli prompts`)")
    doc, prompts_sha = prompts.read_prompts(cfg.prompts_file, sha)
    if doc["protocol"]["name"] != cfg.prompt:
        raise prompts.PromptError(f"{cfg.prompts_file}: holds protocol "
                                  f"{doc['protocol']['name']}, the run asks for {cfg.prompt}")
    return RunData(loader, dcfg, split, sha, refs, prompts.parse_protocol(cfg.prompt), doc,
                   prompts_sha)


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
        raise prompts.PromptError("3D prompts (per-slice boxes) are not turned into batches yet: "
                                  "the harness has no 3D method path; run 3D data with prompt=none")
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


def resized(sample: Sample, size: int, flip: bool = False,
            prompt: dict[str, Any] | None = None,
            protocol: prompts.Protocol | None = None) -> dict[str, Any]:
    """One training item at ``size`` x ``size`` (bilinear image, nearest mask), with its prompt."""
    img = F.interpolate(image_tensor(sample.image)[None], size=(size, size), mode="bilinear",
                        align_corners=False, antialias=True)[0]
    mask = torch.from_numpy(sample.mask.astype(np.uint8))[None, None].float()
    mask = F.interpolate(mask, size=(size, size), mode="nearest")[0].to(torch.uint8)
    if flip:
        img, mask = img.flip(-1), mask.flip(-1)
    fields = prompt_fields(prompt, protocol, sample.mask.shape[:2], (size, size), flip)
    return {"image": img, "mask": mask, "meta": _meta(sample)} | fields


def _meta(sample: Sample) -> dict[str, Any]:
    return {"case_id": sample.case_id, "slice_index": -1, "spacing_mm": sample.spacing_mm,
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
    tensors = [k for k in ("image", "mask", "box", "points", "point_labels") if k in items[0]]
    return {k: torch.stack([i[k] for i in items]) for k in tensors} | {
        "meta": [i["meta"] for i in items]}


def iter_samples(data: RunData, case_ids: list[str]) -> Iterator[Sample]:
    """Load samples in order (for ``fit``-style trainers that want original-size images)."""
    for case_id in case_ids:
        yield data.load(case_id)
