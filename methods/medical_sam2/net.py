"""Medical SAM2's 2D forward on an official ``SAM2Base`` (func_2d/function.py, methods-spec 3.3).

Per batch: image encoder -> memory attention on the 64^2 (stride 16) features over entries
sampled from the self-sorting bank -> prompt encoder (clicks and/or box) -> mask decoder with
the high-resolution features -> memory encoder on the predicted mask -> bank update.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from methods import _sam2
from methods.medical_sam2.bank import Entry, MemoryBank


@dataclass
class Encoded:
    """What ``encode`` keeps of a batch: SAM2's three feature levels (seq-first, as
    ``_prepare_backbone_features`` gives them, the last one memory-conditioned), their sizes,
    the bank keys and the original (H, W)."""

    feats: list[torch.Tensor]  # [(h*w), B, C] per level
    sizes: list[tuple[int, int]]
    keys: list[Hashable]
    original_size: tuple[int, int]

    def maps(self) -> list[torch.Tensor]:
        """The levels as ``[B, C, h, w]`` maps (high-resolution first, image embedding last)."""
        batch = self.feats[0].shape[1]
        return [f.permute(1, 2, 0).reshape(batch, -1, *hw)
                for f, hw in zip(self.feats, self.sizes, strict=True)]


def keys_of(batch: dict[str, Any]) -> list[Hashable]:
    """One bank key per sample: the case id and slice index (an image of a 2D set has -1)."""
    meta = batch.get("meta") or [{} for _ in range(batch["image"].shape[0])]
    return [(m.get("case_id", f"sample_{i}"), int(m.get("slice_index", -1)))
            for i, m in enumerate(meta)]


def normalise(image: torch.Tensor, size: int) -> torch.Tensor:
    """[0, 1] RGB ``[B, 3, H, W]`` -> ``size``^2 with ImageNet mean/std, as SAM2Transforms (the
    reference's 2D path skips the normalisation: methods-spec Part 10 item 2)."""
    if image.shape[-2:] != (size, size):
        image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False,
                              antialias=True)
    mean = image.new_tensor(_sam2.IMAGENET_MEAN)[:, None, None]
    return (image - mean) / image.new_tensor(_sam2.IMAGENET_STD)[:, None, None]


def encode(model: nn.Module, bank: MemoryBank, image: torch.Tensor, keys: list[Hashable],
           n_memory: int) -> Encoded:
    """Backbone features of ``image`` with the last level conditioned on the bank."""
    size = model.image_size
    out = model.forward_image(normalise(image, size))
    _, feats, pos, _ = model._prepare_backbone_features(out)
    batch = image.shape[0]
    query = feats[-1].permute(1, 0, 2).reshape(batch, -1)
    memory = bank.sample(query, n_memory, exclude=set(keys))
    if memory is None:
        # SAM2's learned no-memory embedding (what SAM2 adds to a frame without memory); the
        # reference adds a fresh zero tensor here (methods-spec Part 10 item 9)
        feats[-1] = feats[-1] + model.no_mem_embed
    else:
        feats[-1] = model.memory_attention(curr=[feats[-1]], curr_pos=[pos[-1]],
                                           memory=memory[0], memory_pos=memory[1],
                                           num_obj_ptr_tokens=0)
    return Encoded(feats, _sam2.feature_sizes(size), keys, tuple(image.shape[-2:]))


def prompt_inputs(batch: dict[str, Any], i: int, size: int, original: tuple[int, int]
                  ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """SAM2 ``points`` input of sample ``i``: its clicks (labels 1/0, padding -1 dropped) and its
    box as SAM2 corner points (labels 2, 3), scaled from the batch image's pixels to the model's
    ``size`` x ``size`` input. Pixel order is (x, y) = (column, row) throughout, as the pinned
    prompts files and SAM2 have it (the reference's 2D clicks were (row, col), methods-spec
    Part 10 item 1). ``None``: no prompt (the memory alone conditions the decoder)."""
    height, width = original
    scale = torch.tensor([size / width, size / height])
    coords, labels = [], []
    if "points" in batch:
        keep = batch["point_labels"][i] >= 0
        coords.append(batch["points"][i][keep].float().cpu() * scale)
        labels.append(batch["point_labels"][i][keep].cpu())
    if "box" in batch and not torch.isnan(batch["box"][i]).any():
        coords.append(batch["box"][i].float().cpu().reshape(2, 2) * scale)
        labels.append(torch.tensor([2, 3]))
    if not coords or sum(len(c) for c in coords) == 0:
        return None
    return torch.cat(coords)[None], torch.cat(labels).int()[None]


PREVIOUS_EPS = 1e-4  # ours: probabilities clamped before the logit (|logit| <= 9.2)


def previous_logits(model: nn.Module, batch: dict[str, Any], i: int) -> torch.Tensor | None:
    """SAM2's ``mask_input`` from an interactive round's ``previous`` probabilities of sample
    ``i`` (at image size): bilinear to the prompt encoder's mask size (4 x the embedding), as
    logits, as ``SAM2ImagePredictor.predict(mask_input=...)`` takes the last round's logits."""
    if "previous" not in batch:
        return None
    size = model.sam_prompt_encoder.mask_input_size
    prob = F.interpolate(batch["previous"][i:i + 1].float(), size=size, mode="bilinear",
                         align_corners=False)
    return torch.logit(prob.clamp(PREVIOUS_EPS, 1 - PREVIOUS_EPS))


def decode(model: nn.Module, enc: Encoded, batch: dict[str, Any], prompted: bool
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Low-resolution logits ``[B, 1, 4h, 4w]``, predicted IoU ``[B]``, object scores ``[B, 1]``
    and whether any sample was prompted. Per sample, because prompts differ in length."""
    maps = enc.maps()
    device = maps[-1].device
    logits, ious, scores, any_prompt = [], [], [], False
    for i in range(maps[-1].shape[0]):
        points = prompt_inputs(batch, i, model.image_size, enc.original_size) if prompted else None
        any_prompt |= points is not None
        with torch.no_grad():  # the reference runs the prompt encoder under no_grad (frozen)
            sparse, dense = model.sam_prompt_encoder(
                points=None if points is None else (points[0].to(device), points[1].to(device)),
                boxes=None, masks=previous_logits(model, batch, i))
        low, iou, _, score = model.sam_mask_decoder(
            image_embeddings=maps[-1][i:i + 1], image_pe=model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
            multimask_output=False, repeat_image=False, high_res_features=[m[i:i + 1]
                                                                           for m in maps[:-1]])
        logits.append(low)
        ious.append(iou[:, 0])
        scores.append(score)
    return torch.cat(logits), torch.cat(ious), torch.cat(scores), any_prompt


@torch.no_grad()
def remember(model: nn.Module, bank: MemoryBank, enc: Encoded, low_res: torch.Tensor,
             iou: torch.Tensor, obj_scores: torch.Tensor, from_points: bool) -> None:
    """Memory encoder on the predicted mask (logits at ``image_size``), one bank entry per
    sample. The reference stores the outputs detached, so the memory encoder is not trained:
    running it without gradients changes nothing but memory use."""
    size = model.image_size
    high_res = F.interpolate(low_res.detach(), size=(size, size), mode="bilinear",
                             align_corners=False)
    feats = [f.detach() for f in enc.feats]
    mem, mem_pos = model._encode_new_memory(current_vision_feats=feats, feat_sizes=enc.sizes,
                                            pred_masks_high_res=high_res,
                                            object_score_logits=obj_scores.detach(),
                                            is_mask_from_pts=from_points)
    embed = enc.maps()[-1].detach().flatten(1)
    for i, key in enumerate(enc.keys):
        bank.add(Entry(key, mem[i], mem_pos[0][i], float(iou[i]), embed[i]))
