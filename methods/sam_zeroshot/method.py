"""Zero-shot SAM: segment-anything 1.0's ``Sam`` (ViT-B/L/H) with the pinned box prompt, untouched.

The reference row every medical-SAM paper compares against: the foundation model is not trained
(card ``trainer: none``); ``predict`` follows ``SamPredictor`` (see ``methods/_sam1/infer.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from methods._api import Batch
from methods._sam1 import infer, zero_shot


@dataclass
class Config(zero_shot.ZeroShotConfig):
    """Defaults from segment-anything 1.0 (build_sam.py, predictor.py); shared ones in _sam1."""

    backbone: str = "vit_b"  # vit_b | vit_l | vit_h (sam_model_registry) | tiny
    multimask: bool = False  # predictor.py docstring: one mask for unambiguous prompts (boxes)


build = zero_shot.build


def predict(model: nn.Module, batch: Batch, cfg: Config) -> torch.Tensor:
    """Sigmoid of ``SamPredictor``'s logits at the original size, one box per image."""
    return infer.per_box(batch, lambda image, box: torch.sigmoid(
        infer.sam_logits(model, image, box, cfg.multimask)))


def encode(model: nn.Module, batch: Batch, cfg: Config) -> list[infer.SamFeatures]:
    """``SamPredictor.set_image`` per image: the part an interactive user waits for once."""
    return [infer.sam_encode(model, image) for image in batch["image"]]


def decode(model: nn.Module, features: list[infer.SamFeatures], batch: Batch, cfg: Config
           ) -> torch.Tensor:
    """``predict`` on cached embeddings: prompt encoder + mask decoder per box."""
    return infer.per_box(batch, lambda enc, box: torch.sigmoid(
        infer.sam_decode(model, enc, box, cfg.multimask)), features)
