"""Medical SAM2, 2D (Zhu et al., "Medical SAM 2: Segment medical images as video via Segment
Anything Model 2"): an official SAM2 (``sam2`` package, SAM2.0 configs, Hiera T/S/B+/L) whose
image embedding is conditioned, through SAM2's memory attention, on a self-sorting memory bank
of earlier images and their predicted masks (methods-spec 3.3; ``bank.py``).

Trained as the reference trains it (func_2d/function.py): BCEWithLogits with pos_weight 2 on
the mask logits, Adam (the harness's AdamW with weight decay 0), constant lr; the image encoder,
memory attention and mask decoder learn, the prompt encoder and memory encoder stay as built
(``Config.frozen``). Prompts are the run's pinned clicks (and/or box) in (x, y) order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from methods import _sam2
from methods._api import Batch
from methods.medical_sam2 import net
from methods.medical_sam2.bank import BANK_SIZE, MemoryBank

VARIANTS = ("base", "tiny")  # tiny = the same network at a small image_size (CPU runs)
# What the reference does not train (methods-spec 3.3): prompt encoder (under no_grad), memory
# encoder (outputs stored detached) and the video-only parts of SAM2Base.
NOT_TRAINED = ("sam_prompt_encoder.", "memory_encoder.", "obj_ptr_proj.", "mask_downsample.",
               "maskmem_tpos_enc", "no_mem_embed", "no_mem_pos_enc", "no_obj_ptr")


@dataclass
class Config:
    """Defaults from Medical-SAM2@18b0f5b (README 2D command, cfg.py, func_2d) unless noted."""

    variant: str = "base"  # "tiny": ours, the same model at a small image_size
    backbone: str = "hiera_s"  # README 2D command: -sam_config sam2_hiera_s
    sam2_version: str = "2"  # README: SAM2.0 checkpoints (072824) with sam2_hiera_* configs
    frozen: tuple[str, ...] = NOT_TRAINED  # methods-spec 3.3: what the reference leaves as built
    optimizer: str = "adamw"  # train_2d.py: Adam, weight decay 0 (= AdamW with weight decay 0)
    lr: float = 1e-4  # cfg.py -lr 1e-4
    min_lr: float = 1e-4  # = lr: a constant rate (train_2d.py has no scheduler)
    weight_decay: float = 0.0  # train_2d.py: Adam(weight_decay=0)
    max_steps: int = 10000  # 100 epochs (conf/global_settings EPOCH) x 400 REFUGE images / 4
    batch_size: int = 4  # README 2D command: -b 4
    image_size: int = _sam2.UPSTREAM_SIZE  # README: -image_size 1024 -out_size 1024
    weights: str | None = None  # SAM2.0 checkpoint under paths.checkpoints (card registry)
    weights_sha256: str | None = None  # None: take it from card.yaml's registry
    memory_bank_size: int = BANK_SIZE  # cfg.py -memory_bank_size 16
    memory_samples: int = 4  # func_2d: B entries sampled per image (B = -b 4); ours: decoupled
    pos_weight: float = 2.0  # func_2d/function.py: BCEWithLogitsLoss(pos_weight=2)
    prompt_every: int = 1  # ours: every batch prompted; 5 = the reference (ind % 5 == 0)


def _check(cfg: Config) -> None:
    if cfg.variant not in VARIANTS:
        raise ValueError(f"method.variant={cfg.variant!r}: use one of {VARIANTS}")
    if cfg.variant == "base" and cfg.image_size != _sam2.UPSTREAM_SIZE:
        raise ValueError(f"method.image_size={cfg.image_size} differs from SAM2's "
                         f"{_sam2.UPSTREAM_SIZE}: set method.variant=tiny for a small CPU run")
    if cfg.image_size % 32:
        raise ValueError(f"method.image_size={cfg.image_size}: Hiera needs a multiple of 32")
    if cfg.prompt_every < 1 or cfg.memory_samples < 1:
        raise ValueError("method.prompt_every and method.memory_samples must be >= 1")


def build(cfg: Config, weights_path: Path | None) -> nn.Module:
    """``SAM2Base`` (SAM2.0 config of ``cfg.backbone``) on the CPU with an empty memory bank as a
    plain attribute (never in the state dict); a checkpoint is loaded strictly."""
    _check(cfg)
    model = _sam2.build_model(cfg.backbone, cfg.image_size, cfg.sam2_version)
    if weights_path is not None:
        _sam2.load_weights(model, weights_path)
    model.memory_bank = MemoryBank(cfg.memory_bank_size)
    return model


def _decode_logits(model: nn.Module, enc: net.Encoded, batch: Batch, cfg: Config
                   ) -> torch.Tensor:
    """Low-resolution logits; the batch is written to the bank. ``prompt_every`` counts the
    batches decoded since the bank's last reset (the reference: ``ind % 5`` within an epoch)."""
    bank: MemoryBank = model.memory_bank
    prompted = bank.batches % cfg.prompt_every == 0
    bank.batches += 1
    low, iou, scores, from_points = net.decode(model, enc, batch, prompted)
    net.remember(model, model.memory_bank, enc, low, iou, scores, from_points)
    return low


def train_step(model: nn.Module, batch: Batch, cfg: Config) -> dict[str, torch.Tensor]:
    """BCEWithLogits (pos_weight 2) of the logits, upsampled (nearest, as the reference) to the
    batch's ``image_size`` masks."""
    low = _decode_logits(model, encode(model, batch, cfg), batch, cfg)
    target = batch["mask"].float()
    logits = F.interpolate(low, size=target.shape[-2:])
    loss = F.binary_cross_entropy_with_logits(logits, target,
                                              pos_weight=logits.new_tensor(cfg.pos_weight))
    return {"loss": loss, "bank_size": torch.tensor(float(len(model.memory_bank.entries)))}


def encode(model: nn.Module, batch: Batch, cfg: Config) -> net.Encoded:
    """Image encoder + memory attention over the bank (read only)."""
    bank: MemoryBank = model.memory_bank
    keys = net.keys_of(batch)
    bank.sync(model.training, keys)  # new epoch / train-eval switch: a new, empty bank
    return net.encode(model, bank, batch["image"], keys, cfg.memory_samples)


def decode(model: nn.Module, features: net.Encoded, batch: Batch, cfg: Config) -> torch.Tensor:
    """Prompt encoder + mask decoder on cached features; the prediction is written to the bank.
    Probabilities ``[B, 1, H, W]``: logits bilinear to the original size, then sigmoid."""
    low = _decode_logits(model, features, batch, cfg)
    logits = F.interpolate(low, size=features.original_size, mode="bilinear", align_corners=False)
    return torch.sigmoid(logits)


def predict(model: nn.Module, batch: Batch, cfg: Config) -> torch.Tensor:
    """``decode(encode(batch))``: the bank of this evaluation run conditions every image."""
    return decode(model, encode(model, batch, cfg), batch, cfg)
