"""Zero-shot SAM2: the ``sam2`` package's image model (Hiera T/S/B+/L) with the pinned box prompt,
untouched: the reference row for SAM2-based methods (card ``trainer: none``).

``predict`` runs ``SAM2ImagePredictor``'s steps on tensors (``methods/_sam2.box_logits``); a test
compares it with the upstream predictor on the same weights and input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from methods import _sam2
from methods._sam1 import infer
from methods._sam1.zero_shot import ZeroShotConfig


@dataclass
class Config(ZeroShotConfig):
    """Defaults from sam2 1.1.0 (configs/sam2.1/*.yaml, sam2_image_predictor.py); the fields every
    zero-shot method shares are in ``ZeroShotConfig``."""

    variant: str = "base"  # "base": image_size 1024 as upstream; "tiny": ours, any image_size
    backbone: str = "hiera_l"  # hiera_t | hiera_s | hiera_b_plus | hiera_l (sam2.1 configs)
    image_size: int = _sam2.UPSTREAM_SIZE  # sam2.1 configs: model.image_size 1024
    multimask: bool = False  # sam2 README: one mask for an unambiguous box prompt


def build(cfg: Config, weights_path: Path | None) -> nn.Module:
    """``SAM2Base`` on the CPU (sam2.1 config of ``cfg.backbone``); a checkpoint loaded strictly."""
    if cfg.variant == "base" and cfg.image_size != _sam2.UPSTREAM_SIZE:
        raise ValueError(f"method.image_size={cfg.image_size} differs from SAM2's "
                         f"{_sam2.UPSTREAM_SIZE}: set method.variant=tiny for a small CPU run")
    if cfg.variant not in ("base", "tiny") or cfg.image_size % 32:
        raise ValueError(f"method.variant={cfg.variant!r}, image_size={cfg.image_size}: use base "
                         "or tiny and a multiple of 32")
    model = _sam2.build_model(cfg.backbone, cfg.image_size)
    if weights_path is not None:
        _sam2.load_weights(model, weights_path)
    return model


def _decode(model: nn.Module, enc: _sam2.Sam2Features, prompt: infer.Prompt,
            cfg: Config) -> torch.Tensor:
    mask = None
    if prompt.previous is not None:
        low_res = model.sam_prompt_encoder.mask_input_size[0]
        mask = infer.previous_logits(prompt.previous, (model.image_size,) * 2, model.image_size,
                                     low_res).to(enc.maps[-1].device)
    return torch.sigmoid(_sam2.decode_box(model, enc, prompt.box, cfg.multimask, prompt.points,
                                          prompt.labels, mask))


# Sigmoid of the upstream predictor's logits at the original size, one box per image (a NaN box,
# empty reference: no prompt, gets an empty prediction); ``encode`` is
# ``SAM2ImagePredictor.set_image``, ``decode`` its ``predict`` on the cached features.
# In interactive rounds (card ``interactive: true``) the clicks follow the box corners and the
# previous probabilities enter as mask_input logits over the squashed square
# (infer.previous_logits).
predict, encode, decode = infer.interactive_hooks(_sam2.encode_image, _decode)
