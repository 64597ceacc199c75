"""The M-SAM network: SAM-Med3D (``vit_b_ori``) + LoRA + the Mask-Enhanced Adapter.

One decode = prompt encoder (clicks + previous low-res logits as the mask prompt) -> MEA(image
embedding, dense mask embedding) -> two-way transformer -> x4 upscaling -> low-res logits
``[B, 1, *4 * grid]``. Sizes per variant live in :data:`VARIANTS` (``base`` = SAM-Med3D's
``_build_sam3D_ori``: 128^3 input, 16^3 patches, 768-d 12-block encoder, 384-d neck/prompt/decoder).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from methods.msam.mea import MaskEnhancedAdapter
from methods.msam.sam3d import MaskDecoder3D, PromptEncoder3D
from methods.msam.vit3d import ImageEncoder

# Only what differs per variant. base: SAM-Med3D build_sam3D.py `vit_b_ori` (M-SAM's base) and
# mea.py's adapter (6 heads, methods-spec 5.2); tiny: a CPU model of the same shape. Both keep
# 16^3 ViT patches, so that the token grid (and the MEA's global attention over it) stays small
# at any patch size: tiny at the default 128^3 patch has 8^3 tokens, as ViT-B.
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {"patch": 16, "dim": 768, "depth": 12, "heads": 12, "global_blocks": (2, 5, 8, 11),
             "window": 14, "prompt_dim": 384, "mask_chans": 16, "dec_heads": 8, "dec_mlp": 2048,
             "iou_hidden": 256, "mea_heads": 6, "iterations": 11},
    "tiny": {"patch": 16, "dim": 48, "depth": 2, "heads": 3, "global_blocks": (1,), "window": 2,
             "prompt_dim": 48, "mask_chans": 8, "dec_heads": 4, "dec_mlp": 96, "iou_hidden": 32,
             "mea_heads": 4, "iterations": 3},
}
# Parts that never get a gradient: with a single mask output mask tokens 1-3's hypernetwork
# MLPs and the IoU head (upstream computes and discards them), and no_mask_embed (M-SAM always
# passes a mask prompt, zeros at the first click); frozen so that nothing decays them.
UNUSED = ("prompt_encoder.no_mask_embed.", "mask_decoder.iou_prediction_head.",
          *(f"mask_decoder.output_hypernetworks_mlps.{i}." for i in (1, 2, 3)))


def variant(name: str) -> dict[str, Any]:
    if name not in VARIANTS:
        raise ValueError(f"method.variant={name!r}: use one of {sorted(VARIANTS)}")
    return VARIANTS[name]


def grid_of(patch_size: Any, vit_patch: int) -> tuple[int, int, int]:
    size = [int(p) for p in patch_size]
    if len(size) != 3 or any(p % vit_patch for p in size):
        raise ValueError(f"method.patch_size={size}: M-SAM needs 3 sizes divisible by "
                         f"the ViT patch {vit_patch}")
    return tuple(p // vit_patch for p in size)  # type: ignore[return-value]


class MSAM(nn.Module):
    """Frozen SAM-Med3D image encoder with LoRA, prompt encoder, mask decoder and the MEA."""

    def __init__(self, name: str, patch_size: Any, lora_rank: int) -> None:
        super().__init__()
        v = variant(name)
        grid = grid_of(patch_size, v["patch"])
        self.grid, self.image_size = grid, tuple(int(p) for p in patch_size)
        self.image_encoder = ImageEncoder(grid, v["patch"], v["dim"], v["depth"], v["heads"],
                                          v["global_blocks"], v["window"], v["prompt_dim"],
                                          lora_rank)
        self.prompt_encoder = PromptEncoder3D(v["prompt_dim"], grid, self.image_size,
                                              v["mask_chans"])
        self.mask_decoder = MaskDecoder3D(v["prompt_dim"], v["dec_heads"], v["dec_mlp"],
                                          v["iou_hidden"])
        self.mea = MaskEnhancedAdapter(v["prompt_dim"], v["mea_heads"], grid)
        for name_, param in self.named_parameters():
            base_encoder = name_.startswith("image_encoder.") and ".lora_" not in name_
            param.requires_grad_(not (base_encoder or name_.startswith(UNUSED)))

    @property
    def low_res(self) -> tuple[int, int, int]:
        return tuple(4 * g for g in self.grid)  # type: ignore[return-value]

    def decode(self, embedding: torch.Tensor, points: tuple[torch.Tensor, torch.Tensor] | None,
               low_res_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """New low-res logits and the MEA-fused embedding, from clicks (voxel indices in tensor
        axis order, labels 1/0/-1) and the previous low-res logits."""
        sparse, dense = self.prompt_encoder(points, low_res_logits)
        return self.mask_decoder(embedding, self.prompt_encoder.get_dense_pe(), sparse, dense,
                                 self.mea)


def lora_prefixes(model: MSAM) -> list[str]:
    """Key prefixes of the LoRA adapters (absent from a SAM-Med3D checkpoint)."""
    return [f"image_encoder.blocks.{i}.attn.lora_" for i in range(len(model.image_encoder.blocks))]


def trainable_share(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total
