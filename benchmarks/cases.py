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

from benchmarks import config, splits
from benchmarks.data.base import CaseRef, Sample


@dataclass
class RunData:
    """The dataset side of one run."""

    loader: ModuleType
    dcfg: Any  # the loader's Config instance
    split: dict[str, Any]
    split_sha256: str
    refs: dict[str, CaseRef]

    def case_ids(self, fold: int, part: str) -> list[str]:
        """Sorted ids of the test fold or of the training folds."""
        return splits.select(self.split, fold, part)

    def load(self, case_id: str) -> Sample:
        """Pixels of one case (raises ``DataError`` naming the file on bad input)."""
        return self.loader.load_case(self.refs[case_id], self.dcfg)


def open_run(cfg: DictConfig) -> RunData:
    """Load the split named by ``cfg.split_file`` and list the dataset's cases."""
    loader, dcfg = config.dataset_config(cfg)
    split, sha = splits.read_split(cfg.split_file)
    refs = {ref.case_id: ref for ref in loader.list_cases(dcfg)}
    unknown = sorted(set(split["cases"]) - set(refs))
    if unknown:
        raise splits.SplitError(f"{cfg.split_file}: cases {unknown[:5]} are not in {dcfg.root}; "
                                "the data changed since the split was written: delete and rerun")
    return RunData(loader, dcfg, split, sha, refs)


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """``uint8 [H, W, 3]`` -> ``float32 [3, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).float().div(255.0)


def resized(sample: Sample, size: int, flip: bool = False) -> dict[str, Any]:
    """One training item at ``size`` x ``size`` (bilinear image, nearest mask)."""
    img = F.interpolate(image_tensor(sample.image)[None], size=(size, size), mode="bilinear",
                        align_corners=False, antialias=True)[0]
    mask = torch.from_numpy(sample.mask.astype(np.uint8))[None, None].float()
    mask = F.interpolate(mask, size=(size, size), mode="nearest")[0].to(torch.uint8)
    if flip:
        img, mask = img.flip(-1), mask.flip(-1)
    return {"image": img, "mask": mask, "meta": _meta(sample)}


def _meta(sample: Sample) -> dict[str, Any]:
    return {"case_id": sample.case_id, "slice_index": -1, "spacing_mm": sample.spacing_mm,
            "original_shape": tuple(sample.mask.shape)}


def original_batch(sample: Sample) -> dict[str, Any]:
    """A batch of one sample at its original size (what ``predict`` receives)."""
    return {"image": image_tensor(sample.image)[None], "meta": [_meta(sample)]}


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack equally sized items into a :class:`methods._api.Batch`."""
    return {"image": torch.stack([i["image"] for i in items]),
            "mask": torch.stack([i["mask"] for i in items]),
            "meta": [i["meta"] for i in items]}


def iter_samples(data: RunData, case_ids: list[str]) -> Iterator[Sample]:
    """Load samples in order (for ``fit``-style trainers that want original-size images)."""
    for case_id in case_ids:
        yield data.load(case_id)
