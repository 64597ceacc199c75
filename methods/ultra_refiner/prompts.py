"""Differentiable SAM prompts from a soft coarse mask (UltraRefiner, methods-spec 6.3).

Two variants of the reference repository (Autzoko/UltraRefiner ``models/sam_refiner.py``), a config
choice recorded in every result row:

- ``head`` (HEAD 244b518): box = weighted centroid +- k * weighted std, then a pixel margin;
  positive point = centroid of P^2; negative point = the box corner farthest from the positive one.
- ``seed`` (first commit 728ec68): box = extent of P > 0.5 (no gradient; a sqrt(sum P) box around
  the centroid when empty); positive = centroid of P; negative = centroid of (1 - P) inside the
  box. The reference's broadcast bug for batch > 1 (methods-spec 10) is not reproduced.

Coordinates are (x, y) pixels of P's frame; :func:`to_frame` rescales them for SAM's input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

EPS = 1e-6  # sam_refiner.py: + 1e-6 in every weighted mean


@dataclass(frozen=True)
class Prompts:
    """SAM prompts of a batch: points ``[B, 2, 2]`` (pos, neg), labels ``[B, 2]``, box ``[B, 4]``
    xyxy, mask logits ``[B, 1, h, w]`` (h, w = SAM's mask-input size)."""

    points: torch.Tensor
    labels: torch.Tensor
    box: torch.Tensor
    mask: torch.Tensor


def _grids(prob: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre-free integer coordinate grids x ``[1, H, W]`` and y ``[1, H, W]``."""
    height, width = prob.shape[-2:]
    ys = torch.arange(height, dtype=prob.dtype, device=prob.device)
    xs = torch.arange(width, dtype=prob.dtype, device=prob.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return grid_x[None], grid_y[None]


def centroid(weight: torch.Tensor) -> torch.Tensor:
    """Weighted centroid (x, y) ``[B, 2]`` of ``weight`` ``[B, H, W]``."""
    grid_x, grid_y = _grids(weight)
    total = weight.sum((1, 2)) + EPS
    return torch.stack([(weight * grid_x).sum((1, 2)) / total,
                        (weight * grid_y).sum((1, 2)) / total], dim=1)


def soft_box(prob: torch.Tensor, k: float, margin: float) -> torch.Tensor:
    """HEAD box: centroid +- k * weighted std per axis, -/+ margin, clamped to the image."""
    grid_x, grid_y = _grids(prob)
    centre = centroid(prob)
    total = prob.sum((1, 2)) + EPS
    var_x = (prob * (grid_x - centre[:, :1, None]) ** 2).sum((1, 2)) / total
    var_y = (prob * (grid_y - centre[:, 1:, None]) ** 2).sum((1, 2)) / total
    half = k * torch.stack([var_x, var_y], dim=1).add(EPS).sqrt()
    return _clamp_box(torch.cat([centre - half - margin, centre + half + margin], dim=1), prob)


def hard_box(prob: torch.Tensor) -> torch.Tensor:
    """Seed box: the extent of P > 0.5; an empty mask gets a sqrt(sum P) box at the centroid."""
    boxes = []
    centre = centroid(prob)
    for b, inside in enumerate(prob.detach() > 0.5):
        ys, xs = torch.nonzero(inside, as_tuple=True)
        if len(xs):
            boxes.append(torch.stack([xs.min(), ys.min(), xs.max(), ys.max()]).to(prob.dtype))
        else:
            half = prob[b].detach().sum().sqrt() / 2
            boxes.append(torch.cat([centre[b].detach() - half, centre[b].detach() + half]))
    return _clamp_box(torch.stack(boxes), prob)


def _clamp_box(box: torch.Tensor, prob: torch.Tensor) -> torch.Tensor:
    height, width = prob.shape[-2:]
    limit = box.new_tensor([width - 1, height - 1, width - 1, height - 1])
    return torch.minimum(box.clamp(min=0), limit)


def farthest_corner(box: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """HEAD negative point: the corner of ``box`` farthest from ``point`` (argmax picks the corner,
    its coordinates keep their gradient)."""
    x0, y0, x1, y1 = box.unbind(1)
    corners = torch.stack([torch.stack(c, 1) for c in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))], 1)
    far = (corners - point[:, None]).pow(2).sum(-1).argmax(1)
    return corners[torch.arange(len(box)), far]


def in_box_background(prob: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Seed negative point: centroid of (1 - P) restricted to ``box``."""
    grid_x, grid_y = _grids(prob)
    b = box.detach()[:, :, None, None]
    inside = ((grid_x >= b[:, 0]) & (grid_x <= b[:, 2]) & (grid_y >= b[:, 1]) & (grid_y <= b[:, 3]))
    return centroid((1 - prob) * inside.to(prob.dtype))


def mask_prompt(prob: torch.Tensor, size: int, blur: bool) -> torch.Tensor:
    """SAM's mask input: (2P - 1) * 10 logits, optionally after a Gaussian blur of P ("gaussian":
    kernel max(3, 2 * floor(H / 64) + 1), sigma = kernel / 3), bilinear to ``size`` x ``size``."""
    x = prob[:, None]
    if blur:
        kernel = max(3, 2 * (prob.shape[-2] // 64) + 1)
        x = gaussian_blur(x, kernel, kernel / 3)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return (2 * x - 1) * 10


def gaussian_blur(x: torch.Tensor, kernel: int, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[B, 1, H, W]`` with reflect padding."""
    offsets = torch.arange(kernel, dtype=x.dtype, device=x.device) - (kernel - 1) / 2
    weights = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    weights = weights / weights.sum()
    pad = kernel // 2
    x = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode="reflect"), weights.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, pad, pad), mode="reflect"), weights.view(1, 1, -1, 1))


def from_soft_mask(prob: torch.Tensor, variant: str, mask_size: int, k: float = 2.5,
                   margin: float = 5.0, blur: bool = True) -> Prompts:
    """All prompts of a soft mask ``prob`` ``[B, H, W]`` in [0, 1], in ``prob``'s pixel frame."""
    if variant == "head":
        box = soft_box(prob, k, margin)
        positive = centroid(prob ** 2)
        negative = farthest_corner(box, positive)
    elif variant == "seed":
        box = hard_box(prob)
        positive = centroid(prob)
        negative = in_box_background(prob, box)
    else:
        raise ValueError(f"method.prompt_variant={variant!r}: use 'head' or 'seed'")
    labels = torch.tensor([[1, 0]], device=prob.device).expand(len(prob), 2)
    return Prompts(torch.stack([positive, negative], 1), labels, box,
                   mask_prompt(prob, mask_size, blur))


def to_frame(prompts: Prompts, scale_x: float, scale_y: float) -> Prompts:
    """Points and box rescaled into another pixel frame (SAM's input size)."""
    xy = prompts.points.new_tensor([scale_x, scale_y])
    return Prompts(prompts.points * xy, prompts.labels, prompts.box * xy.repeat(2), prompts.mask)


def soft_select(masks: torch.Tensor, iou: torch.Tensor, tau: float) -> torch.Tensor:
    """Differentiable stand-in for argmax-by-IoU: sum_k softmax(IoU_k / tau) * mask_k."""
    weights = torch.softmax(iou / tau, dim=1)
    return (weights[:, :, None, None] * masks).sum(1, keepdim=True)
