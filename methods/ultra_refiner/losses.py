"""Losses of the three phases (methods-spec 6.2, 6.5, 6.6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

SMOOTH = 1e-5  # TransUNet utils.DiceLoss and UltraRefiner SAMLoss: smooth = 1e-5


def transunet_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """0.5 * CE + 0.5 * Dice over softmax, both classes, squared denominators, batch sums
    (TransUNet ``utils.DiceLoss``; ``target`` int64 ``[B, H, W]``)."""
    ce = F.cross_entropy(logits, target)
    score = torch.softmax(logits, 1)
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).float()
    inter = (score * onehot).sum((0, 2, 3))
    denom = (score * score).sum((0, 2, 3)) + (onehot * onehot).sum((0, 2, 3))
    dice = 1 - (2 * inter + SMOOTH) / (denom + SMOOTH)
    return 0.5 * ce + 0.5 * dice.mean()


def bce_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """0.5 * BCE-with-logits + 0.5 * soft Dice of sigmoid(logits) (``SAMLoss``/``EndToEndLoss``)."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum((1, 2, 3))
    dice = 1 - (2 * inter + SMOOTH) / (prob.sum((1, 2, 3)) + target.sum((1, 2, 3)) + SMOOTH)
    return 0.5 * bce + 0.5 * dice.mean()


def hard_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of (logits > 0) with ``target`` per sample ``[B]`` (both empty: 1)."""
    pred = logits.detach() > 0
    ref = target > 0.5
    inter = (pred & ref).sum((1, 2, 3)).float()
    union = (pred | ref).sum((1, 2, 3)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def refiner_loss(masks: torch.Tensor, iou_pred: torch.Tensor, target: torch.Tensor
                 ) -> dict[str, torch.Tensor]:
    """Phase 2 (``SAMLoss``): BCE + Dice on the mask with the highest predicted IoU, plus the MSE
    between that prediction and the mask's true IoU; weights 1 : 1."""
    best = iou_pred.argmax(1)
    rows = torch.arange(len(masks))
    chosen = masks[rows, best][:, None]
    mask_loss = bce_dice(chosen, target)
    iou_loss = F.mse_loss(iou_pred[rows, best], hard_iou(chosen, target))
    return {"loss": mask_loss + iou_loss, "mask_loss": mask_loss.detach(),
            "iou_loss": iou_loss.detach()}
