"""The UltraRefiner network: TransUNet coarse masks refined by SAM through differentiable prompts.

One module for all three phases (methods-spec 6.2-6.6) so that every phase's checkpoint has the
same keys: ``coarse.*`` (TransUNet) and ``sam.*`` (segment-anything ``Sam``, built by the shared
SAM v1 block ``methods/_sam1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from methods._sam1 import arch
from methods.ultra_refiner import prompts
from methods.ultra_refiner.transunet import TransUNet


@dataclass(frozen=True)
class RefinerOptions:
    """How the soft coarse mask becomes SAM prompts and how SAM's masks are merged."""

    prompt_variant: str  # "head" | "seed" (prompts.py)
    box_k: float
    box_margin: float
    mask_blur: bool  # "gaussian" (True) or "direct" mask prompt
    tau: float  # soft selection temperature
    sam_input: str  # "sam": 0-255 RGB with pixel mean/std; "medsam": min-max [0, 1]


def sam_pixels(image: torch.Tensor, size: int, norm: str) -> torch.Tensor:
    """SAM's encoder input ``[B, 3, size, size]`` from images ``[B, 3, H, W]`` in [0, 1].

    ``sam``: x255 then SAM's pixel mean/std (``Sam.preprocess``), the convention the SAM files were
    trained with; ``medsam``: per-image min-max to [0, 1] with no mean/std (MedSAM_Inference.py).
    The reference's Phase 2 applied the 0-255 mean/std to [0, 1] images (an almost constant input;
    methods-spec 6.5): here the image is scaled to 0-255 first. The image is the training frame
    (``image_size`` squares, in training and at predict: ``method.training_frame``), upsampled.
    """
    x = F.interpolate(image.float(), size=(size, size), mode="bilinear", align_corners=False)
    if norm == "sam":
        mean = x.new_tensor(arch.PIXEL_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(arch.PIXEL_STD).view(1, 3, 1, 1)
        return (x.clamp(0, 1) * 255 - mean) / std
    if norm == "medsam":
        low = x.amin((1, 2, 3), keepdim=True)
        high = x.amax((1, 2, 3), keepdim=True)
        return (x - low) / (high - low).clamp(min=1e-8)
    raise ValueError(f"method.sam_input={norm!r}: use 'sam' or 'medsam'")


class UltraRefiner(nn.Module):
    """``coarse``: TransUNet at ``coarse_size``; ``sam``: SAM at ``sam_size``."""

    def __init__(self, coarse: TransUNet, sam: nn.Module, options: RefinerOptions) -> None:
        super().__init__()
        self.coarse = coarse
        self.sam = sam
        self.options = options

    def coarse_logits(self, image: torch.Tensor) -> torch.Tensor:
        """TransUNet's 2-class logits at ``coarse_size`` for images of any size."""
        size = self.coarse.img_size
        x = F.interpolate(image.float(), size=(size, size), mode="bilinear", align_corners=False)
        return self.coarse(x)

    def embed(self, image: torch.Tensor) -> torch.Tensor:
        """SAM image embeddings; no graph through the encoder when it is frozen."""
        pixels = sam_pixels(image, self.sam.image_encoder.img_size, self.options.sam_input)
        trains = any(p.requires_grad for p in self.sam.image_encoder.parameters())
        with torch.set_grad_enabled(trains and torch.is_grad_enabled()):
            return self.sam.image_encoder(pixels)

    def refine(self, embedding: torch.Tensor, prob: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """SAM's three mask logits at ``prob``'s size ``[B, 3, h, w]`` and IoU predictions
        ``[B, 3]`` for a soft coarse mask ``prob`` ``[B, h, w]``."""
        opt, size = self.options, self.sam.image_encoder.img_size
        mask_size = self.sam.prompt_encoder.mask_input_size[0]
        found = prompts.from_soft_mask(prob, opt.prompt_variant, mask_size, opt.box_k,
                                       opt.box_margin, opt.mask_blur)
        found = prompts.to_frame(found, size / prob.shape[-1], size / prob.shape[-2])
        masks, ious = [], []
        for i in range(len(prob)):  # one prompt set per image (SAM's decoder repeats the image)
            sparse, dense = self.sam.prompt_encoder(
                points=(found.points[i:i + 1], found.labels[i:i + 1]),
                boxes=found.box[i:i + 1], masks=found.mask[i:i + 1])
            low, iou = self.sam.mask_decoder(
                image_embeddings=embedding[i:i + 1],
                image_pe=self.sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=True)
            masks.append(low)
            ious.append(iou)
        low = torch.cat(masks)
        up = F.interpolate(low, size=prob.shape[-2:], mode="bilinear", align_corners=False)
        return up, torch.cat(ious)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Coarse logits at ``coarse_size`` and refined logits ``[B, 1, S, S]`` at ``sam_size``."""
        coarse = self.coarse_logits(image)
        size = self.sam.image_encoder.img_size
        prob = F.interpolate(torch.softmax(coarse, 1)[:, 1:], size=(size, size),
                             mode="bilinear", align_corners=False)[:, 0]
        masks, iou = self.refine(self.embed(image), prob)
        refined = prompts.soft_select(masks, iou, self.options.tau)
        return {"coarse": coarse, "refined": refined, "masks": masks, "iou": iou}


def build_network(variant: str, backbone: str, coarse_size: int, sam_size: int,
                  options: RefinerOptions) -> UltraRefiner:
    """TransUNet (``base`` or ``tiny``) and SAM (``backbone`` of ``methods._sam1``) together."""
    sam = arch.build_sam(arch.layout(backbone, variant), sam_size)
    return UltraRefiner(TransUNet("tiny" if variant == "tiny" else "base", coarse_size), sam,
                        options)
