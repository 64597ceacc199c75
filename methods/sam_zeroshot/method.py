"""Zero-shot SAM: segment-anything 1.0's ``Sam`` (ViT-B/L/H) with the pinned box prompt, untouched.

The reference row every medical-SAM paper compares against: the foundation model is not trained
(card ``trainer: none``); ``predict`` follows ``SamPredictor`` (see ``methods/_sam1/infer.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods._sam1 import infer, zero_shot


@dataclass
class Config(zero_shot.ZeroShotConfig):
    """Defaults from segment-anything 1.0 (build_sam.py, predictor.py); shared ones in _sam1."""

    backbone: str = "vit_b"  # vit_b | vit_l | vit_h (sam_model_registry) | tiny
    multimask: bool = False  # predictor.py docstring: one mask for unambiguous prompts (boxes)


build = zero_shot.build


# Sigmoid of ``SamPredictor``'s logits at the original size, one box per image; ``encode`` is
# ``SamPredictor.set_image`` (once per image), ``decode`` its ``predict`` on the cached embedding,
# in interactive rounds with ``point_coords``/``point_labels`` and ``mask_input`` (card
# ``interactive: true``; the previous probabilities as logits, infer.previous_logits).
predict, encode, decode = infer.interactive_hooks(
    infer.sam_encode,
    lambda model, enc, prompt, cfg: torch.sigmoid(
        infer.sam_decode(model, enc, prompt.box, cfg.multimask, prompt)))
