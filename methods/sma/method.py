"""SMA: Hugging Face SAM fine-tuned with box prompts, mask decoder only (methods-spec Part 7).

The seed notebook (AliAmini93/SMA-Breast-Tumor-Segmentation) trains ``TFSamModel`` from
``facebook/sam-vit-large``; TensorFlow SAM is gone from transformers 5, so this is the PyTorch
``transformers.SamModel``, built from a ``SamConfig`` (never from the hub). Vision and prompt
encoders are frozen (and SAM's fixed random positional projection, a buffer in segment-anything but
a tied parameter in transformers); the mask decoder learns from the pinned box prompts with a soft
Dice loss (squared denominators) on the low-resolution logits.

Pre- and post-processing are ``SamProcessor``'s own (built offline from the model's input size):
uint8 RGB, longest side to ``image_size``, ImageNet mean/std, pad; ``post_process_masks`` back to
the original size (ours: logits, sigmoid afterwards).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from methods._api import Batch, load_state_strict
from methods._sam1 import infer  # the interactive rounds' Prompt and previous-mask conversion

# transformers SamVisionConfig per backbone (facebook/sam-vit-{base,large,huge} config.json;
# methods-spec 1.1). "tiny" is ours, for 2-core CPU tests only (named in the card).
LAYOUTS = {
    "vit_b": {"vision": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                             global_attn_indexes=[2, 5, 8, 11])},
    "vit_l": {"vision": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                             global_attn_indexes=[5, 11, 17, 23])},
    "vit_h": {"vision": dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16,
                             global_attn_indexes=[7, 15, 23, 31])},
    "tiny": {"vision": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                            global_attn_indexes=[1], window_size=4, output_channels=32,
                            num_pos_feats=16, mlp_dim=128),
             # mask_input_channels 16 as upstream: with 4 the mask path has one channel, which
             # its LayerNorm zeroes, so no previous mask could reach the decoder
             "prompt": dict(hidden_size=32, mask_input_channels=16),
             "decoder": dict(hidden_size=32, mlp_dim=64, num_attention_heads=2,
                             iou_head_hidden_dim=32)},
}


@dataclass
class Config:
    """Defaults from the seed notebook (methods-spec 7.2-7.4) unless named otherwise."""

    variant: str = "base"  # "base": the upstream layout of `backbone`; "tiny": ours (card)
    backbone: str = "vit_l"  # seed: facebook/sam-vit-large
    # seed: vision_encoder and prompt_encoder non-trainable; shared_image_embedding is SAM's fixed
    # random projection (a buffer in segment-anything, a parameter tied to the prompt encoder here)
    frozen: tuple[str, ...] = ("vision_encoder.", "prompt_encoder.", "shared_image_embedding.")
    optimizer: str = "adamw"  # seed: Adam; AdamW with weight_decay=0 is the same update
    lr: float = 1e-5  # seed: Adam(learning_rate=1e-5)
    weight_decay: float = 0.0  # seed: none
    max_steps: int = 650  # seed: 5 epochs x 130 images at batch 1
    batch_size: int = 1  # seed: batch 1
    image_size: int = 1024  # SamProcessor longest_edge 1024 (facebook/sam-vit-* configs)
    weights: str | None = None  # sam-vit-*.safetensors under paths.checkpoints, or None
    weights_sha256: str | None = None  # None: take it from card.yaml's registry


def sam_config(cfg: Config):
    """The ``SamConfig`` of ``cfg`` (no hub access)."""
    from transformers import SamConfig

    name = "tiny" if cfg.variant == "tiny" else cfg.backbone
    if name not in LAYOUTS:
        raise ValueError(f"method.backbone={cfg.backbone!r}: use one of {sorted(LAYOUTS)}")
    layout = LAYOUTS[name]
    return SamConfig(
        vision_config={"image_size": cfg.image_size, **layout["vision"]},
        prompt_encoder_config={"image_size": cfg.image_size, **layout.get("prompt", {})},
        mask_decoder_config=layout.get("decoder", {}))


def processor(image_size: int):
    """``SamProcessor`` for ``image_size`` inputs, built offline (the hub's is the 1024 one)."""
    from transformers import SamImageProcessor, SamProcessor

    return SamProcessor(SamImageProcessor(
        size={"longest_edge": image_size}, pad_size={"height": image_size, "width": image_size},
        mask_size={"longest_edge": image_size // 4},
        mask_pad_size={"height": image_size // 4, "width": image_size // 4}))


def build(cfg: Config, weights_path: Path | None) -> nn.Module:
    """``SamModel`` on the CPU; a facebook/sam-vit-* ``model.safetensors`` loaded strictly."""
    from transformers import SamModel

    model = SamModel(sam_config(cfg))
    model.processor = processor(cfg.image_size)  # plain attribute: not in the state dict
    if weights_path is not None:
        from safetensors.torch import load_file

        # the hub file stores the tied positional projection once, under shared_image_embedding
        load_state_strict(model, load_file(str(weights_path)), str(weights_path),
                          allow_missing=("prompt_encoder.shared_embedding.",))
    return model


def content(image: torch.Tensor, meta: dict | None) -> torch.Tensor:
    """The image without the harness's letterbox padding (card ``resize: letterbox``): training
    items carry ``meta["content_shape"]``; original-size images at predict have none. The
    processor then pads it itself, so training and test inputs have one geometry and one pad
    value (zeros after normalisation)."""
    height, width = (meta or {}).get("content_shape", image.shape[-2:])
    return image[..., :height, :width]


def _inputs(model: nn.Module, batch: Batch) -> dict:
    """``SamProcessor`` outputs for the batch's images and boxes (uint8 in, as the processor
    expects; the harness's images were read as uint8, so the conversion is exact)."""
    images = batch["image"].detach().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    metas = batch.get("meta") or [None] * len(images)
    boxes = [[box.tolist()] for box in batch["box"].detach().cpu()]
    inputs = model.processor(images=[content(im, m) for im, m in zip(images, metas, strict=True)],
                             input_boxes=boxes, return_tensors="pt")
    device = next(model.parameters()).device
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in inputs.items()}


def _with_boxes(batch: Batch) -> torch.Tensor:
    if "box" not in batch:
        raise KeyError("sma takes box prompts: run it with prompt=box (the grid's prompt axis)")
    return ~torch.isnan(batch["box"]).any(dim=1)


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-sample ``1 - (2 sum(y p) + eps) / (sum(y^2) + sum(p^2) + eps)`` (MONAI DiceLoss with
    sigmoid and squared_pred, as the seed; methods-spec 7.4)."""
    prob = torch.sigmoid(logits).flatten(1)
    target = target.flatten(1).float()
    inter = (prob * target).sum(1)
    return 1 - (2 * inter + eps) / (target.pow(2).sum(1) + prob.pow(2).sum(1) + eps)


def train_step(model: nn.Module, batch: Batch, cfg: Config) -> dict[str, torch.Tensor]:
    """Soft Dice of the low-resolution logits against the mask resized (nearest) to them.

    Samples without a box (empty reference: the prompts file gives none) cannot be prompted and
    are left out of the loss; a batch with no box at all gives a zero loss.
    """
    keep = _with_boxes(batch)
    batch = {**batch, "box": torch.where(keep[:, None], batch["box"], torch.zeros_like(
        batch["box"]))}
    inputs = _inputs(model, batch)
    out = model(pixel_values=inputs["pixel_values"], input_boxes=inputs["input_boxes"],
                multimask_output=False)
    logits = out.pred_masks[:, 0]  # (B, 1, h, w)
    target = F.interpolate(batch["mask"].float(), size=logits.shape[-2:], mode="nearest")
    per_sample = soft_dice_loss(logits, target)
    weight = keep.to(per_sample)
    return {"loss": (per_sample * weight).sum() / weight.sum().clamp(min=1)}


def predict(model: nn.Module, batch: Batch, cfg: Config) -> torch.Tensor:
    """Sigmoid of the logits ``post_process_masks`` brings back to the original size."""
    keep = _with_boxes(batch)
    height, width = batch["image"].shape[-2:]
    out = torch.zeros(len(keep), 1, height, width, device=batch["image"].device)
    if not keep.any():
        return out
    sub = {"image": batch["image"][keep], "box": batch["box"][keep],
           "meta": [m for m, k in zip(batch.get("meta") or [{}] * len(keep), keep.tolist(),
                                      strict=True) if k]}
    inputs = _inputs(model, sub)
    pred = model(pixel_values=inputs["pixel_values"], input_boxes=inputs["input_boxes"],
                 multimask_output=False).pred_masks  # (B, 1, 1, h, w)
    logits = model.processor.image_processor.post_process_masks(
        pred, inputs["original_sizes"], inputs["reshaped_input_sizes"], binarize=False)
    out[keep] = torch.sigmoid(torch.cat(logits)[:, :1].to(out))
    return out


def encode(model: nn.Module, batch: Batch, cfg: Config) -> dict:
    """``SamProcessor`` on the images and ``SamModel.get_image_embeddings``: the vision encoder,
    run once per image (boxes are left to ``decode``)."""
    images = batch["image"].detach().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    inputs = model.processor(images=list(images), return_tensors="pt")
    device = next(model.parameters()).device
    return {"embeddings": model.get_image_embeddings(inputs["pixel_values"].to(device)),
            "original_sizes": inputs["original_sizes"],
            "reshaped_input_sizes": inputs["reshaped_input_sizes"]}


def decode(model: nn.Module, features: dict, batch: Batch, cfg: Config) -> torch.Tensor:
    """``predict`` on cached embeddings: boxes scaled as ``SamProcessor`` scales them (its
    ``_normalize_coordinates``, transformers pinned), prompt encoder + mask decoder, then
    ``post_process_masks`` to the original size. Interactive rounds (``points``/``previous`` in
    the batch; card ``interactive: true``) go through :func:`_decode_round`."""
    import numpy as np

    if "points" in batch or "previous" in batch:
        prompts = infer.prompts_of(batch)
        height, width = batch["image"].shape[-2:]
        return torch.stack([
            _decode_round(model, features, i, p) if p.box is not None or p.points is not None
            else batch["image"].new_zeros(1, height, width) for i, p in enumerate(prompts)])
    keep = _with_boxes(batch)
    height, width = batch["image"].shape[-2:]
    out = torch.zeros(len(keep), 1, height, width, device=batch["image"].device)
    if not keep.any():
        return out
    sizes = features["original_sizes"][keep.cpu()]
    boxes = [model.processor._normalize_coordinates(
        model.processor.target_size, np.array([box.tolist()]), size.tolist(), is_bounding_box=True)
        for box, size in zip(batch["box"][keep].detach().cpu(), sizes, strict=True)]
    pred = model(image_embeddings=features["embeddings"][keep],
                 input_boxes=torch.from_numpy(np.array(boxes)).to(out.device),
                 multimask_output=False).pred_masks
    logits = model.processor.image_processor.post_process_masks(
        pred, sizes, features["reshaped_input_sizes"][keep.cpu()], binarize=False)
    out[keep] = torch.sigmoid(torch.cat(logits)[:, :1].to(out))
    return out


def _decode_round(model: nn.Module, features: dict, i: int, prompt: infer.Prompt
                  ) -> torch.Tensor:
    """One image's interactive round: ``SamModel`` with ``input_points``/``input_labels`` (the
    clicks, scaled as the box; transformers embeds points before the box, as segment-anything),
    ``input_boxes`` and ``input_masks`` (the previous probabilities as logits in the padded
    low-resolution frame, ``infer.previous_logits``). Probabilities ``[1, H, W]``."""
    import numpy as np

    device = features["embeddings"].device
    size = features["original_sizes"][i].tolist()
    reshaped = features["reshaped_input_sizes"][i : i + 1]
    norm = model.processor._normalize_coordinates
    target = model.processor.target_size
    args: dict = {}
    if prompt.box is not None:
        box = norm(target, np.array([prompt.box.tolist()]), size, is_bounding_box=True)
        args["input_boxes"] = torch.from_numpy(box).float()[None].to(device)
    if prompt.points is not None:
        xy = norm(target, prompt.points.detach().cpu().numpy(), size)
        args["input_points"] = torch.from_numpy(xy).float()[None, None].to(device)
        args["input_labels"] = prompt.labels.to(device, torch.int)[None, None]
    if prompt.previous is not None:
        low_res = 4 * features["embeddings"].shape[-1]
        args["input_masks"] = infer.previous_logits(
            prompt.previous, tuple(reshaped[0].tolist()), target, low_res).to(device)
    pred = model(image_embeddings=features["embeddings"][i : i + 1], multimask_output=False,
                 **args).pred_masks
    logits = model.processor.image_processor.post_process_masks(
        pred, features["original_sizes"][i : i + 1], reshaped, binarize=False)
    return torch.sigmoid(logits[0][0, :1].float())
