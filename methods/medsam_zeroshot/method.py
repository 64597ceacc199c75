"""Zero-shot MedSAM: SAM ViT-B fine-tuned on medical images, with MedSAM's own input convention.

Same ``Sam`` architecture as SAM ViT-B (``methods/_sam1``), loaded from ``medsam_vit_b.pth``;
``predict`` follows ``MedSAM_Inference.py``: a 1024 x 1024 squashed image min-max normalised to
[0, 1] and fed to the encoder without pixel mean/std (methods-spec 1.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from methods._sam1 import infer, zero_shot


@dataclass
class Config(zero_shot.ZeroShotConfig):
    """Defaults from bowang-lab/MedSAM (MedSAM_Inference.py); shared ones in methods/_sam1."""

    backbone: str = "vit_b"  # MedSAM exists for ViT-B only; tiny for CPU runs
    image_size: int = 1024  # MedSAM_Inference.py: resize to 1024 x 1024


build = zero_shot.build  # medsam_vit_b.pth is a flat SAM-format state dict (methods-spec 1.2)


# MedSAM's probabilities at the original size, one box per image; ``encode`` is its image
# embedding (once per image), ``decode`` the prompt encoder + mask decoder on it, in interactive
# rounds with the clicks and the previous probabilities (as 256 x 256 logits) too. MedSAM was
# trained with boxes only; SAM's point and mask inputs are there, untrained by MedSAM.
predict, encode, decode = infer.interactive_hooks(
    infer.medsam_encode,
    lambda model, enc, prompt, cfg: infer.medsam_decode(model, enc, prompt.box, prompt))
