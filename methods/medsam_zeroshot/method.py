"""Zero-shot MedSAM: SAM ViT-B fine-tuned on medical images, with MedSAM's own input convention.

Same ``Sam`` architecture as SAM ViT-B (``methods/_sam1``), loaded from ``medsam_vit_b.pth``;
``predict`` follows ``MedSAM_Inference.py``: a 1024 x 1024 squashed image min-max normalised to
[0, 1] and fed to the encoder without pixel mean/std (methods-spec 1.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from methods._api import Batch
from methods._sam1 import infer, zero_shot


@dataclass
class Config(zero_shot.ZeroShotConfig):
    """Defaults from bowang-lab/MedSAM (MedSAM_Inference.py); shared ones in methods/_sam1."""

    backbone: str = "vit_b"  # MedSAM exists for ViT-B only; tiny for CPU runs
    image_size: int = 1024  # MedSAM_Inference.py: resize to 1024 x 1024


build = zero_shot.build  # medsam_vit_b.pth is a flat SAM-format state dict (methods-spec 1.2)


def predict(model: nn.Module, batch: Batch, cfg: Config) -> torch.Tensor:
    """MedSAM's probabilities at the original size, one box per image."""
    return infer.per_box(batch, lambda image, box: infer.medsam_probabilities(model, image, box))


def encode(model: nn.Module, batch: Batch, cfg: Config) -> list[infer.SamFeatures]:
    """MedSAM's image embedding per image (one encoder pass each)."""
    return [infer.medsam_encode(model, image) for image in batch["image"]]


def decode(model: nn.Module, features: list[infer.SamFeatures], batch: Batch, cfg: Config
           ) -> torch.Tensor:
    """``predict`` on cached embeddings: prompt encoder + mask decoder per box."""
    return infer.per_box(batch, lambda enc, box: infer.medsam_decode(model, enc, box), features)
