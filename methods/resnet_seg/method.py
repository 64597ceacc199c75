"""Mask R-CNN with a ResNet-FPN backbone (torchvision), the seeds' "ResNet" baseline.

One foreground class ("lesion"/"organ"); instance masks with score > ``score_threshold`` are
merged into one probability map per image by a pixel-wise maximum (methods-spec 4.1 ORs them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi
from torch import nn

from methods._api import Batch, load_state_dict_strict

# Only what differs per variant (style guide B9.6). "tiny" trims the RPN/ROI budgets and thins the
# box and mask heads (the 4x256-channel mask head dominated CPU step time); random init only.
VARIANTS = {
    "base": {},  # torchvision defaults
    "tiny": {"rpn_pre_nms_top_n_train": 300, "rpn_post_nms_top_n_train": 100,
             "rpn_pre_nms_top_n_test": 150, "rpn_post_nms_top_n_test": 50,
             "box_batch_size_per_image": 64, "rpn_batch_size_per_image": 64},
}
TINY_HEAD = 64  # channels of the tiny mask head and width of its box head
COCO_CLASSES = 91  # the COCO checkpoint's head size (torchvision MaskRCNN_ResNet50_FPN_Weights)


@dataclass
class Config:
    """Mask R-CNN hyper-parameters; defaults from methods-spec 4.1 unless noted."""

    variant: str = "base"  # "base" or "tiny" (CPU budgets)
    backbone: str = "resnet50"  # methods-spec 4.1: ResNet50-FPN
    frozen: tuple[str, ...] = ()  # parameter-name prefixes; random init trains everything
    optimizer: str = "sgd"  # methods-spec 4.1: SGD, momentum 0.9
    lr: float = 0.005  # methods-spec 4.1
    weight_decay: float = 5e-4  # methods-spec 4.1
    max_steps: int = 2000  # harness budget (upstream: 100 epochs of 1-slice batches)
    # torchvision references/detection/engine.py: the lr ramps linearly from lr/1000 over the
    # first min(1000, len(loader) - 1) iterations (the harness has no epochs: 1000); without it
    # a random-init run diverged (NaN loss at step 12, SGD lr 0.005, tiny variant; issue 21)
    warmup_steps: int = 1000
    batch_size: int = 4  # methods-spec 4.1 uses 4 crops per step
    image_size: int = 512  # training resize; torchvision resizes to min_size/max_size itself
    weights: str | None = None  # COCO checkpoint file under paths.checkpoints, or None
    weights_sha256: str | None = None  # None: take it from card.yaml's registry
    score_threshold: float = 0.5  # methods-spec 4.1: instances with score > 0.5 are merged
    max_instances: int = 20  # detections per image kept before merging
    extra: dict[str, int] = field(default_factory=dict)  # further MaskRCNN kwargs (advanced)


def _maskrcnn(cfg: Config, num_classes: int) -> nn.Module:
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.ops.misc import FrozenBatchNorm2d

    if cfg.variant not in VARIANTS:
        raise ValueError(f"method.variant={cfg.variant!r}: use one of {sorted(VARIANTS)}")
    # As torchvision's maskrcnn_resnet50_fpn: frozen BN statistics only for pretrained weights;
    # a random-init network needs trainable BN or its activations diverge (NaN loss seen).
    norm = FrozenBatchNorm2d if cfg.weights else nn.BatchNorm2d
    backbone = resnet_fpn_backbone(backbone_name=cfg.backbone, weights=None, trainable_layers=5,
                                   norm_layer=norm)
    heads = _tiny_heads(cfg, num_classes)  # torchvision wants num_classes=None with own heads
    kwargs = VARIANTS[cfg.variant] | heads | dict(cfg.extra)
    return MaskRCNN(backbone, num_classes=None if heads else num_classes, min_size=cfg.image_size,
                    max_size=cfg.image_size, box_detections_per_img=cfg.max_instances, **kwargs)


def _tiny_heads(cfg: Config, num_classes: int) -> dict[str, nn.Module]:
    """Thin heads for the tiny variant; none for the base variant (torchvision's own)."""
    if cfg.variant != "tiny":
        return {}
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

    fpn_channels, pooled = 256, 7  # resnet_fpn_backbone output, MultiScaleRoIAlign size
    return {
        "box_head": TwoMLPHead(fpn_channels * pooled**2, 4 * TINY_HEAD),
        "box_predictor": FastRCNNPredictor(4 * TINY_HEAD, num_classes),
        "mask_head": MaskRCNNHeads(fpn_channels, [TINY_HEAD, TINY_HEAD], dilation=1),
        "mask_predictor": MaskRCNNPredictor(TINY_HEAD, TINY_HEAD, num_classes),
    }


def build(cfg: Config, weights_path: Path | None) -> nn.Module:
    """Mask R-CNN with 2 classes; a COCO checkpoint is loaded strictly, then the heads re-made."""
    if weights_path is None:
        return _maskrcnn(cfg, num_classes=2)
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
    from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

    model = _maskrcnn(cfg, num_classes=COCO_CLASSES)
    load_state_dict_strict(model, weights_path)
    heads = model.roi_heads
    heads.box_predictor = FastRCNNPredictor(heads.box_predictor.cls_score.in_features, 2)
    heads.mask_predictor = MaskRCNNPredictor(256, 256, 2)  # as the upstream fine-tuning recipe
    model.reinitialised = ["roi_heads.box_predictor.", "roi_heads.mask_predictor."]
    return model


def _targets(masks: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """One instance per connected component of each binary mask (boxes xyxy, label 1)."""
    targets = []
    for mask in masks[:, 0].cpu().numpy().astype(bool):
        labels, n = ndi.label(mask)
        inst = np.stack([labels == i for i in range(1, n + 1)]) if n else np.zeros((0, *mask.shape))
        boxes = [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in ndi.find_objects(labels)]
        targets.append({
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.ones(n, dtype=torch.int64),
            "masks": torch.from_numpy(inst.astype(np.uint8)),
        })
    return targets


def _content(batch: Batch) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Images and masks without the harness's letterbox padding (card ``resize: letterbox``,
    ``meta["content_shape"]``): torchvision's transform resizes and pads them itself, as it
    does the original-size images at predict (one geometry, zero padding after normalisation)."""
    images, masks = [], []
    for i, image in enumerate(batch["image"]):
        meta = (batch.get("meta") or [{}] * len(batch["image"]))[i] or {}
        height, width = meta.get("content_shape", image.shape[-2:])
        images.append(image[:, :height, :width])
        masks.append(batch["mask"][i, :, :height, :width])
    return images, masks


def train_step(model: nn.Module, batch: Batch, cfg: Config) -> dict[str, torch.Tensor]:
    """Sum of torchvision's five Mask R-CNN losses (model in train mode)."""
    device = batch["image"].device
    images, masks = _content(batch)
    targets = [{k: v.to(device) for k, v in _targets(m[None])[0].items()} for m in masks]
    losses = model(images, targets)
    return {"loss": sum(losses.values()), **{k: v.detach() for k, v in losses.items()}}


def predict(model: nn.Module, batch: Batch, cfg: Config) -> torch.Tensor:
    """Pixel-wise max of the kept instances' mask probabilities, ``[B, 1, H, W]`` (eval mode)."""
    outputs = model(list(batch["image"]))
    probs = []
    for image, out in zip(batch["image"], outputs, strict=True):
        keep = out["scores"] > cfg.score_threshold  # strictly, as methods-spec 4.1
        masks = out["masks"][keep]
        empty = torch.zeros((1, *image.shape[-2:]), device=image.device)
        probs.append(masks.amax(dim=0) if len(masks) else empty)
    return torch.stack(probs).clamp(0, 1)
