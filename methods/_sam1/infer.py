"""Box-prompted (and interactive: box + clicks + previous mask) SAM v1 inference for one image
at its original size.

Two input conventions share the model:

- ``sam_logits`` follows ``SamPredictor.set_image`` + ``predict(box=..., return_logits=True)``:
  uint8 RGB, longest side to ``img_size`` with ``ResizeLongestSide.apply_image`` (PIL bilinear),
  pixel mean/std and bottom-right padding in ``Sam.preprocess``, box scaled with ``apply_boxes``,
  logits brought back with ``Sam.postprocess_masks``. Same calls, one encoder pass, no copies
  beyond the uint8 image the predictor itself makes.
- ``medsam_probabilities`` follows MedSAM's ``MedSAM_Inference.py``: the image squashed to
  ``img_size`` x ``img_size`` exactly as ``skimage.transform.resize(order=3,
  preserve_range=True, anti_aliasing=True)`` does it (:func:`skimage_resize_uint8`, the same
  scipy.ndimage calls; tests/methods/test_sam1.py compares it with scikit-image itself) and
  truncated to uint8, min-max to [0, 1] over the whole image, no mean/std and no padding, box
  scaled by ``img_size / (W, H)``, sigmoid of the low-resolution logits, then bilinear to the
  original size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F


def to_uint8_hwc(image: torch.Tensor) -> np.ndarray:
    """``float [3, H, W]`` in [0, 1] -> ``uint8 [H, W, 3]`` (exact for images read as uint8)."""
    pixels = image.detach().clamp(0, 1).mul(255).round().to(torch.uint8)
    return pixels.permute(1, 2, 0).cpu().numpy()


# An interactive round's previous probabilities enter SAM's mask input as logits: p is clamped to
# [EPS, 1 - EPS] first (|logit| <= 9.21), since a saturated float32 sigmoid gives p = 1 exactly.
PREVIOUS_EPS = 1e-4


class Prompt(NamedTuple):
    """One image's prompts of an interactive round (methods/_api.py): box, clicks, previous."""

    box: torch.Tensor | None  # [4] xyxy pixels; None where the batch's box is NaN
    points: torch.Tensor | None  # [N, 2] (x, y) pixels, SAM's padding (label -1) removed
    labels: torch.Tensor | None  # [N] 1 foreground, 0 background
    previous: torch.Tensor | None  # [H, W] the method's own probabilities of the previous round


def prompts_of(batch: dict) -> list[Prompt]:
    """The batch's prompts per sample (``points`` / ``previous`` only in interactive rounds)."""
    out = []
    for i in range(len(batch["image"])):
        box = batch["box"][i] if "box" in batch else None
        box = None if box is None or torch.isnan(box).any() else box
        points = labels = previous = None
        if "points" in batch:
            keep = batch["point_labels"][i] >= 0
            if keep.any():
                points, labels = batch["points"][i][keep, :2], batch["point_labels"][i][keep]
        if "previous" in batch:
            previous = batch["previous"][i, 0]
        out.append(Prompt(box, points, labels, previous))
    return out


def previous_logits(previous: torch.Tensor, frame: tuple[int, int], size: int,
                    low_res: int) -> torch.Tensor:
    """Probabilities ``[H, W]`` -> SAM's mask input ``[1, 1, low_res, low_res]`` (logits, as the
    decoder's own low-resolution output that ``SamPredictor``'s ``mask_input`` expects).

    The image occupies the top-left ``frame`` (h, w) of the model's ``size`` x ``size`` input
    (SAM pads bottom-right; MedSAM squashes: frame = the whole square), so the logits are resized
    (bilinear, antialiased) to ``frame * low_res / size`` and the rest is filled with
    ``logit(PREVIOUS_EPS)``, background, as padding is.
    """
    logits = torch.logit(previous.float().clamp(PREVIOUS_EPS, 1 - PREVIOUS_EPS))
    h, w = (round(side * low_res / size) for side in frame)
    small = F.interpolate(logits[None, None], size=(h, w), mode="bilinear", align_corners=False,
                          antialias=True)
    fill = float(torch.logit(torch.tensor(PREVIOUS_EPS)))
    return F.pad(small, (0, low_res - w, 0, low_res - h), value=fill)


class SamFeatures(NamedTuple):
    """What ``SamPredictor.set_image`` keeps of one image: the embedding and the two sizes."""

    embedding: torch.Tensor  # [1, C, h, w]
    input_size: tuple[int, int]  # after ResizeLongestSide, before padding
    original_size: tuple[int, int]


def sam_encode(sam: torch.nn.Module, image: torch.Tensor) -> SamFeatures:
    """``SamPredictor.set_image`` on one image ``[3, H, W]`` in [0, 1]: one encoder pass."""
    from segment_anything.utils.transforms import ResizeLongestSide

    resized = ResizeLongestSide(sam.image_encoder.img_size).apply_image(to_uint8_hwc(image))
    pixels = torch.as_tensor(resized, device=sam.device).permute(2, 0, 1).contiguous()[None]
    return SamFeatures(sam.image_encoder(sam.preprocess(pixels)), tuple(pixels.shape[-2:]),
                       tuple(image.shape[-2:]))


def sam_decode(sam: torch.nn.Module, enc: SamFeatures, box: torch.Tensor | None,
               multimask: bool = False, prompt: Prompt | None = None) -> torch.Tensor:
    """``SamPredictor.predict(box=..., point_coords=..., point_labels=..., mask_input=...,
    return_logits=True)`` on cached features: logits ``[1, H, W]``; with ``multimask`` the mask of
    the highest predicted IoU of SAM's three. ``prompt`` adds the clicks and the previous mask of
    an interactive round (points scaled with ``apply_coords``, the mask as
    :func:`previous_logits` in the padded 1024 frame)."""
    from segment_anything.utils.transforms import ResizeLongestSide

    transform = ResizeLongestSide(sam.image_encoder.img_size)
    boxes = None if box is None else torch.as_tensor(
        transform.apply_boxes(box.detach().cpu().numpy()[None].astype(float), enc.original_size),
        dtype=torch.float, device=sam.device)
    points, masks = None, None
    if prompt is not None and prompt.points is not None:
        coords = transform.apply_coords(prompt.points.detach().cpu().numpy().astype(float),
                                        enc.original_size)
        points = (torch.as_tensor(coords, dtype=torch.float, device=sam.device)[None],
                  prompt.labels.to(sam.device, torch.int)[None])
    if prompt is not None and prompt.previous is not None:
        masks = previous_logits(prompt.previous, enc.input_size, sam.image_encoder.img_size,
                                sam.prompt_encoder.mask_input_size[0]).to(sam.device)
    sparse, dense = sam.prompt_encoder(points=points, boxes=boxes, masks=masks)
    low_res, iou = sam.mask_decoder(image_embeddings=enc.embedding,
                                    image_pe=sam.prompt_encoder.get_dense_pe(),
                                    sparse_prompt_embeddings=sparse,
                                    dense_prompt_embeddings=dense, multimask_output=multimask)
    logits = sam.postprocess_masks(low_res, enc.input_size, enc.original_size)[0]
    return logits[iou[0].argmax()][None] if multimask else logits


def sam_logits(sam: torch.nn.Module, image: torch.Tensor, box: torch.Tensor,
               multimask: bool = False) -> torch.Tensor:
    """Mask logits ``[1, H, W]`` of one image ``[3, H, W]`` and one xyxy pixel box ``[4]``."""
    return sam_decode(sam, sam_encode(sam, image), box, multimask)


def skimage_resize_uint8(rgb: np.ndarray, size: int) -> np.ndarray:
    """``skimage.transform.resize(rgb, (size, size), order=3, preserve_range=True,
    anti_aliasing=True).astype(np.uint8)`` (MedSAM_Inference.py) with scipy.ndimage alone:
    a Gaussian pre-filter of sigma ``max(0, (factor - 1) / 2)`` per axis (downsampling only),
    cubic-spline ``zoom`` on the pixel grid (``grid_mode``), skimage's default ``reflect`` =
    ndimage ``mirror`` edges, the output clipped to the input's range, then truncated to uint8.
    Not a bicubic (Keys) kernel: torch's bicubic differed by 4 grey levels on average."""
    from scipy import ndimage as ndi

    image = np.asarray(rgb, np.float64)
    factors = np.divide(image.shape, (size, size, image.shape[2]))
    filtered = ndi.gaussian_filter(image, np.maximum(0, (factors - 1) / 2), cval=0.0,
                                   mode="mirror")
    out = ndi.zoom(filtered, 1 / factors, order=3, mode="mirror", cval=0.0, grid_mode=True)
    np.clip(out, image.min(), image.max(), out=out)
    return out.astype(np.uint8)


def medsam_input(image: torch.Tensor, size: int) -> torch.Tensor:
    """MedSAM's encoder input ``[1, 3, size, size]``: skimage's order-3 resize to a square,
    uint8, min-max to [0, 1]."""
    resized = skimage_resize_uint8(to_uint8_hwc(image), size)
    x = torch.from_numpy(resized).to(image.device).permute(2, 0, 1)[None].float()
    return (x - x.min()) / (x.max() - x.min()).clamp(min=1e-8)


def medsam_encode(sam: torch.nn.Module, image: torch.Tensor) -> SamFeatures:
    """MedSAM's image embedding of one image ``[3, H, W]`` (one encoder pass)."""
    size = sam.image_encoder.img_size
    embedding = sam.image_encoder(medsam_input(image, size).to(sam.device))
    return SamFeatures(embedding, (size, size), tuple(image.shape[-2:]))


def medsam_decode(sam: torch.nn.Module, enc: SamFeatures, box: torch.Tensor | None,
                  prompt: Prompt | None = None) -> torch.Tensor:
    """MedSAM's probabilities ``[1, H, W]`` for one xyxy pixel box on cached features; ``prompt``
    adds an interactive round's clicks (scaled by ``size / (W, H)`` as the box) and previous mask
    (:func:`previous_logits` over the whole squashed square)."""
    size = enc.input_size[0]
    height, width = enc.original_size
    scale = torch.tensor([width, height, width, height], dtype=torch.float, device=sam.device)
    box_in = None if box is None else (box.to(sam.device, torch.float) / scale * size)[None, None]
    points, masks = None, None
    if prompt is not None and prompt.points is not None:
        coords = prompt.points.to(sam.device, torch.float) / scale[:2] * size
        points = (coords[None], prompt.labels.to(sam.device, torch.int)[None])
    if prompt is not None and prompt.previous is not None:
        masks = previous_logits(prompt.previous, (size, size), size,
                                sam.prompt_encoder.mask_input_size[0]).to(sam.device)
    sparse, dense = sam.prompt_encoder(points=points, boxes=box_in, masks=masks)
    low_res, _ = sam.mask_decoder(image_embeddings=enc.embedding,
                                  image_pe=sam.prompt_encoder.get_dense_pe(),
                                  sparse_prompt_embeddings=sparse,
                                  dense_prompt_embeddings=dense, multimask_output=False)
    return F.interpolate(torch.sigmoid(low_res), size=(height, width), mode="bilinear",
                         align_corners=False)[0]


def medsam_probabilities(sam: torch.nn.Module, image: torch.Tensor, box: torch.Tensor
                         ) -> torch.Tensor:
    """Probabilities ``[1, H, W]`` of one image ``[3, H, W]`` and one xyxy pixel box ``[4]``."""
    return medsam_decode(sam, medsam_encode(sam, image), box)


def per_box(batch: dict, one: Callable[[Any, torch.Tensor], torch.Tensor],
            items: Sequence[Any] | None = None) -> torch.Tensor:
    """Probabilities ``[B, 1, H, W]``: ``one(item, box)`` per sample, 0 where the box is NaN.

    ``items`` are the batch's images (``predict``) or their cached features (``decode``). A NaN
    box is the prompts file's "empty reference, no prompt to give": SAM is not asked anything
    and the prediction is empty (methods never invent their own prompts).
    """
    if "box" not in batch:
        raise KeyError("this method takes box prompts: run it with prompt=box (the grid's prompt "
                       "axis) so that batches carry the pinned boxes")
    items = batch["image"] if items is None else items
    out = []
    for item, image, box in zip(items, batch["image"], batch["box"], strict=True):
        if torch.isnan(box).any():
            out.append(image.new_zeros(1, *image.shape[-2:]))
        else:
            out.append(one(item, box).float())
    return torch.stack(out)


def per_prompt(batch: dict, one: Callable[[Any, Prompt], torch.Tensor],
               items: Sequence[Any]) -> torch.Tensor:
    """Probabilities ``[B, 1, H, W]``: ``one(item, prompt)`` per sample; 0 where the sample has
    neither a box nor a click (nothing to ask: the prediction is empty, as in :func:`per_box`)."""
    if "box" not in batch:
        raise KeyError("this method takes box prompts: run it with prompt=box or an interactive "
                       "box<J>clicks<N> protocol so that batches carry the pinned boxes")
    out = []
    for item, image, prompt in zip(items, batch["image"], prompts_of(batch), strict=True):
        if prompt.box is None and prompt.points is None:
            out.append(image.new_zeros(1, *image.shape[-2:]))
        else:
            out.append(one(item, prompt).float())
    return torch.stack(out)


def interactive_hooks(encode_one: Callable[[torch.nn.Module, torch.Tensor], Any],
                      decode_one: Callable[[torch.nn.Module, Any, Prompt, Any], torch.Tensor]
                      ) -> tuple[Callable, Callable, Callable]:
    """``predict``, ``encode`` and ``decode`` of an interactive method (card ``interactive:
    true``) from ``encode_one(model, image)`` and ``decode_one(model, features, prompt, cfg)``
    (probabilities ``[1, H, W]`` from a :class:`Prompt`: the box, and in later rounds the clicks
    so far and the previous probabilities). Without clicks and previous it is the box decode."""

    def predict(model: torch.nn.Module, batch: dict, cfg: Any) -> torch.Tensor:
        # the encoder only where there is a prompt (most slices of a volume have none)
        return per_prompt(batch, lambda image, prompt: decode_one(
            model, encode_one(model, image), prompt, cfg), batch["image"])

    def encode(model: torch.nn.Module, batch: dict, cfg: Any) -> list:
        return [encode_one(model, image) for image in batch["image"]]

    def decode(model: torch.nn.Module, features: list, batch: dict, cfg: Any) -> torch.Tensor:
        return per_prompt(batch, lambda enc, prompt: decode_one(model, enc, prompt, cfg),
                          features)

    return predict, encode, decode


def box_hooks(encode_one: Callable[[torch.nn.Module, torch.Tensor], Any],
              decode_one: Callable[[torch.nn.Module, Any, torch.Tensor, Any], torch.Tensor]
              ) -> tuple[Callable, Callable, Callable]:
    """A box-prompted method's ``predict``, ``encode`` and ``decode`` (methods/_api.py) from its
    per-image encoder ``encode_one(model, image)`` and per-box decoder ``decode_one(model,
    features, box, cfg)`` (probabilities ``[1, H, W]``): the SAM-family split, written once."""

    def predict(model: torch.nn.Module, batch: dict, cfg: Any) -> torch.Tensor:
        return per_box(batch, lambda image, box: decode_one(model, encode_one(model, image), box,
                                                            cfg))

    def encode(model: torch.nn.Module, batch: dict, cfg: Any) -> list:
        return [encode_one(model, image) for image in batch["image"]]

    def decode(model: torch.nn.Module, features: list, batch: dict, cfg: Any) -> torch.Tensor:
        return per_box(batch, lambda enc, box: decode_one(model, enc, box, cfg), features)

    return predict, encode, decode
