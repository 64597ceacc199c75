"""ESAM2-BLS (Guo, Zhang, Ma, CMIG 2025): a frozen SAM2 Hiera trunk (``sam2`` package) with an
adapter after every Hiera block, an MSIF bottleneck, a lightweight U-decoder and three
deep-supervision heads, trained with IoU + BCE losses (methods-spec Part 2).

The reference repository has no runnable network (methods-spec 2.9); the architecture follows
the paper's equations on the real SAM2 trunk, as methods-spec 2.2 proposes. Only the trunk comes
from a checkpoint; adapters, MSIF, decoder and heads start from their initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from methods import _sam2
from methods._api import Batch, WeightsError, load_state_strict

TRUNK_PREFIX = "image_encoder.trunk."  # where sam2 checkpoints keep the Hiera trunk
VARIANTS = ("base", "tiny")  # tiny = the same network; CPU runs give it a small image_size


@dataclass
class Config:
    """ESAM2-BLS hyper-parameters; defaults from methods-spec Part 2 unless noted."""

    variant: str = "base"  # "tiny": same network, small image_size (CPU tests)
    backbone: str = "hiera_l"  # methods-spec 2.2.1: variant unstated; Hiera-L as SAM2-UNet
    frozen: tuple[str, ...] = ("trunk.",)  # methods-spec 2.5: Hiera frozen
    optimizer: str = "adamw"  # methods-spec 2.5 (reference config)
    lr: float = 1e-4  # methods-spec 2.5
    min_lr: float = 1e-6  # methods-spec 2.5: CosineAnnealingLR eta_min
    weight_decay: float = 1e-5  # methods-spec 2.5
    max_steps: int = 18750  # methods-spec 2.5: 100 epochs x batch 8 over ~1500 BUS-BRA images
    batch_size: int = 8  # methods-spec 2.5
    image_size: int = 256  # methods-spec 2.3: img_size 256 (a multiple of 32: Hiera strides)
    weights: str | None = None  # sam2/sam2.1 checkpoint under paths.checkpoints (trunk only)
    weights_sha256: str | None = None  # None: take it from card.yaml's registry
    adapter_ratio: float = 0.25  # methods-spec 2.2.1: 1x1 conv C -> r*C
    se_reduction: int = 16  # methods-spec 2.2.1: SE reduction
    se_min_hidden: int = 4  # methods-spec 2.2.1 (our proposal): floor of the SE hidden width
    msif_rhos: tuple[int, ...] = (1, 2, 3)  # methods-spec 2.2.2: ADConv dilations
    decoder_conv: str = "adconv"  # methods-spec 2.2.3: Eq. 10 ADConv ("dwsc": reference code)
    decoder_rho: int = 2  # methods-spec 2.2.3: Eq. 10
    loss_lambdas: tuple[float, ...] = (1.0, 1.0, 1.0)  # methods-spec 2.4: lambda1..3 = 1 in code
    ds_alphas: tuple[float, ...] = (0.2, 0.3, 0.5)  # methods-spec 2.4 Eq. 14, low -> high res
    ds_mean: bool = True  # methods-spec 2.4: src/loss.py divides L_DS by the 3 outputs


def _check(cfg: Config) -> None:
    if cfg.variant not in VARIANTS:
        raise ValueError(f"method.variant={cfg.variant!r}: use one of {VARIANTS}")
    if cfg.image_size % 32:
        raise ValueError(f"method.image_size={cfg.image_size}: Hiera needs a multiple of 32")


def build(cfg: Config, weights_path: Path | None) -> nn.Module:
    """ESAM2-BLS on the CPU; with ``weights_path``, the trunk from a sam2 checkpoint (strict)."""
    from methods.esam2_bls.net import ESAM2BLS

    _check(cfg)
    model = ESAM2BLS(_sam2.build_trunk(cfg.backbone), cfg.adapter_ratio, cfg.se_reduction,
                     cfg.se_min_hidden, tuple(cfg.msif_rhos), cfg.decoder_conv, cfg.decoder_rho)
    if weights_path is not None:
        load_trunk(model, weights_path)
    return model


def load_trunk(model: nn.Module, path: Path) -> list[str]:
    """Load ``image_encoder.trunk.*`` of a sam2 checkpoint as ``trunk.*``, strictly.

    The rest of the checkpoint (neck, memory, prompt encoder, SAM decoder) is not part of
    ESAM2-BLS and is dropped; the new modules are re-initialised on purpose and returned by name.
    """
    state = _sam2.read_checkpoint(path)
    trunk = {"trunk." + k[len(TRUNK_PREFIX):]: v for k, v in state.items()
             if k.startswith(TRUNK_PREFIX)}
    if not trunk:
        raise WeightsError(f"{path} holds no {TRUNK_PREFIX}* keys: not a sam2 checkpoint")
    return load_state_strict(model, trunk, str(path),
                             allow_missing=("adapters.", "msif.", "decoder.", "heads."))


def normalise(image: torch.Tensor, size: int) -> torch.Tensor:
    """[0, 1] RGB -> ``size`` x ``size``, ImageNet mean/std (methods-spec 2.3)."""
    if image.shape[-2:] != (size, size):
        image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False,
                              antialias=True)
    mean = image.new_tensor(_sam2.IMAGENET_MEAN)[:, None, None]
    std = image.new_tensor(_sam2.IMAGENET_STD)[:, None, None]
    return (image - mean) / std


def iou_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Eq. 12: 1 - sum(pg) / sum(p + g - pg) per image on probabilities, batch mean."""
    p = torch.sigmoid(logits).flatten(1)
    g = target.flatten(1)
    inter = (p * g).sum(1)
    return (1 - (inter + eps) / ((p + g - p * g).sum(1) + eps)).mean()


def _iou_bce(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return iou_loss(logits, target), F.binary_cross_entropy_with_logits(logits, target)


def loss(outputs: list[torch.Tensor], target: torch.Tensor, cfg: Config) -> dict[str, torch.Tensor]:
    """Eq. 15: lambda1 IoU + lambda2 BCE on the final output + lambda3 L_DS (Eq. 14)."""
    l1, l2, l3 = cfg.loss_lambdas
    iou, bce = _iou_bce(outputs[-1], target)
    ds = sum(a * sum(_iou_bce(o, target)) for a, o in zip(cfg.ds_alphas, outputs, strict=True))
    ds = ds / len(outputs) if cfg.ds_mean else ds
    return {"loss": l1 * iou + l2 * bce + l3 * ds, "iou": iou, "bce": bce, "deep_sup": ds}


def train_step(model: nn.Module, batch: Batch, cfg: Config) -> dict[str, torch.Tensor]:
    """Deep-supervised IoU + BCE on a batch already resized to ``image_size``."""
    outputs = model(normalise(batch["image"], cfg.image_size))
    return loss(outputs, batch["mask"].float(), cfg)


def predict(model: nn.Module, batch: Batch, cfg: Config) -> torch.Tensor:
    """Final-head probabilities at the original size: logits resized bilinearly, then sigmoid."""
    logits = model(normalise(batch["image"], cfg.image_size))[-1]
    logits = F.interpolate(logits, size=batch["image"].shape[-2:], mode="bilinear",
                           align_corners=False)
    return torch.sigmoid(logits)
