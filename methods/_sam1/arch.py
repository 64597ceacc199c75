"""The SAM v1 model (``segment_anything.modeling.Sam``) at any backbone and input size.

``segment_anything.build_sam._build_sam`` fixes the input at 1024; the CPU variants need smaller
inputs, so we assemble the same modules with the input size as a parameter. At 1024 the result is
the registry's model exactly (same modules, same argument values; a test compares state-dict
shapes with ``sam_model_registry``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from methods._api import load_state_strict, read_checkpoint


@dataclass(frozen=True)
class Layout:
    """Encoder and decoder sizes of one backbone."""

    embed_dim: int
    depth: int
    num_heads: int
    global_attn: tuple[int, ...]
    window: int = 14  # segment_anything/build_sam.py: window_size=14
    prompt_dim: int = 256  # build_sam.py: prompt_embed_dim=256
    mask_in_chans: int = 16  # build_sam.py: PromptEncoder(mask_in_chans=16)
    decoder_mlp: int = 2048  # build_sam.py: TwoWayTransformer(mlp_dim=2048)
    decoder_heads: int = 8  # build_sam.py: TwoWayTransformer(num_heads=8)


# segment_anything/build_sam.py build_sam_vit_{b,l,h}; methods-spec 1.1.
LAYOUTS = {
    "vit_b": Layout(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": Layout(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": Layout(1280, 32, 16, (7, 15, 23, 31)),
    # Ours, for 2-core CPU tests only (named in each card): 2 blocks of width 64, decoder width 32.
    # mask_in_chans 16 as upstream: with 4 the mask path's first conv has one channel, whose
    # LayerNorm2d is 0 for any input, so a tiny model could never read a previous mask.
    "tiny": Layout(64, 2, 2, (1,), window=4, prompt_dim=32, mask_in_chans=16, decoder_mlp=64,
                   decoder_heads=2),
}
PATCH = 16  # build_sam.py: vit_patch_size=16
PIXEL_MEAN = (123.675, 116.28, 103.53)  # modeling/sam.py defaults (0-255 RGB)
PIXEL_STD = (58.395, 57.12, 57.375)


def layout(backbone: str, variant: str) -> Layout:
    """The layout of ``backbone``; ``variant="tiny"`` always gives the tiny CPU layout."""
    name = "tiny" if variant == "tiny" else backbone
    if name not in LAYOUTS:
        raise ValueError(f"method.backbone={backbone!r}: use one of {sorted(LAYOUTS)}")
    return LAYOUTS[name]


def build_sam(spec: Layout, img_size: int) -> torch.nn.Module:
    """``Sam`` with ``spec``'s sizes for ``img_size`` x ``img_size`` inputs (a multiple of 16)."""
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    if img_size % PATCH:
        raise ValueError(f"method.image_size={img_size} must be a multiple of {PATCH}")
    grid = img_size // PATCH
    encoder = ImageEncoderViT(
        img_size=img_size, patch_size=PATCH, embed_dim=spec.embed_dim, depth=spec.depth,
        num_heads=spec.num_heads, mlp_ratio=4, qkv_bias=True, use_rel_pos=True,
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), global_attn_indexes=spec.global_attn,
        window_size=spec.window, out_chans=spec.prompt_dim)
    prompt = PromptEncoder(embed_dim=spec.prompt_dim, image_embedding_size=(grid, grid),
                           input_image_size=(img_size, img_size), mask_in_chans=spec.mask_in_chans)
    decoder = MaskDecoder(
        num_multimask_outputs=3, transformer_dim=spec.prompt_dim, iou_head_depth=3,
        iou_head_hidden_dim=spec.prompt_dim,
        transformer=TwoWayTransformer(depth=2, embedding_dim=spec.prompt_dim,
                                      mlp_dim=spec.decoder_mlp, num_heads=spec.decoder_heads))
    return Sam(image_encoder=encoder, prompt_encoder=prompt, mask_decoder=decoder,
               pixel_mean=list(PIXEL_MEAN), pixel_std=list(PIXEL_STD))


def fit_input_size(state: dict[str, torch.Tensor], model: torch.nn.Module
                   ) -> dict[str, torch.Tensor]:
    """A 1024-trained state dict adapted to a model built for another input size.

    Only the position tables depend on the input size: ``pos_embed`` ``(1, G, G, C)`` is resized
    bicubically and the ``rel_pos`` tables ``(2S-1, d)`` linearly (segment-anything's own
    ``get_rel_pos`` resizes them linearly at run time). Other keys pass through unchanged so that
    strict loading still reports every real mismatch.
    """
    own, out = model.state_dict(), {}
    for key, value in state.items():
        target = own.get(key)
        if target is None or target.shape == value.shape or value.ndim != target.ndim:
            out[key] = value
        elif key.endswith("pos_embed"):
            out[key] = F.interpolate(value.permute(0, 3, 1, 2).float(), size=target.shape[1:3],
                                     mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
        elif "rel_pos" in key:
            out[key] = F.interpolate(value.T[None].float(), size=target.shape[0], mode="linear",
                                     align_corners=False)[0].T
        else:
            out[key] = value
    return out


def load_checkpoint(model: torch.nn.Module, path: Path) -> None:
    """Load a Meta-format SAM ``.pth`` (flat state dict) strictly, on the CPU.

    ``map_location="cpu"``: MedSAM's file may hold CUDA tensors, which segment-anything's own
    ``torch.load(f)`` cannot read on a CPU-only host (cpu-feasibility 10.8).
    """
    state = read_checkpoint(path)  # map_location=cpu, weights_only; unreadable -> names the file
    load_state_strict(model, fit_input_size(state, model), str(path))
