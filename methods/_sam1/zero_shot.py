"""What the zero-shot SAM v1 reference rows share: their Config fields and ``build``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from methods._sam1 import arch


@dataclass
class ZeroShotConfig:
    """Fields of a method that is never trained (card ``trainer: none``)."""

    variant: str = "base"  # "base": the upstream layout of `backbone`; "tiny": ours (card)
    backbone: str = "vit_b"  # segment_anything sam_model_registry key, or tiny
    frozen: tuple[str, ...] = ()  # nothing is trained
    optimizer: str = "adamw"  # unused: zero-shot
    lr: float = 0.0  # unused: zero-shot
    weight_decay: float = 0.0  # unused: zero-shot
    max_steps: int = 0  # zero-shot: no training step
    batch_size: int = 1  # unused: zero-shot
    image_size: int = 1024  # build_sam.py: image_size=1024 (smaller only for tiny CPU runs)
    weights: str | None = None  # a registry file under paths.checkpoints, or None (random init)
    weights_sha256: str | None = None  # None: take it from card.yaml's registry


def build(cfg: ZeroShotConfig, weights_path: Path | None) -> nn.Module:
    """``Sam`` on the CPU; a Meta-format ``.pth`` loaded strictly (position tables resized to
    ``cfg.image_size`` when it is not 1024)."""
    model = arch.build_sam(arch.layout(cfg.backbone, cfg.variant), cfg.image_size)
    if weights_path is not None:
        arch.load_checkpoint(model, weights_path)
    return model
