"""<Method name>: one paragraph on what it is and which upstream package it builds on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from methods._api import Batch, load_state_dict_strict


@dataclass
class Config:
    """Every default names its source (paper section or upstream file@commit)."""

    variant: str = "base"  # "tiny" for CPU tests
    backbone: str = "base"  # grid axis, listed in card.yaml
    frozen: tuple[str, ...] = ()  # parameter-name prefixes the harness freezes
    optimizer: str = "adamw"  # "adamw" or "sgd"
    lr: float = 1e-4  # source
    weight_decay: float = 1e-2  # source
    max_steps: int = 1000  # source
    batch_size: int = 8  # source
    image_size: int = 256  # source
    weights: str | None = None  # file under paths.checkpoints, or None (random init)
    weights_sha256: str | None = None  # None: take it from card.yaml's registry


def build(cfg: Config, weights_path: Path | None) -> nn.Module:
    """The model on the CPU; pretrained weights loaded strictly."""
    model = nn.Conv2d(3, 1, 3, padding=1)  # replace with the real architecture
    if weights_path is not None:
        load_state_dict_strict(model, weights_path)
    return model


def train_step(model: nn.Module, batch: Batch, cfg: Config) -> dict[str, torch.Tensor]:
    """The method's loss on one batch."""
    logits = model(batch["image"])
    loss = nn.functional.binary_cross_entropy_with_logits(logits, batch["mask"].float())
    return {"loss": loss}


def predict(model: nn.Module, batch: Batch, cfg: Config) -> torch.Tensor:
    """Probabilities ``[B, 1, H, W]`` at the size of ``batch['image']``."""
    return torch.sigmoid(model(batch["image"]))
