"""Coarse masks simulated from the reference for Phase 2 (UltraRefiner ``finetune_sam.py``
``simulate_coarse_mask``; methods-spec 6.5): erosion or dilation, box blur, random holes, random
Gaussian blobs, boundary noise, half / quadrant dropout, Gaussian noise, clamped to [0, 1]. The
kernel sizes are pixels of the reference's 1024 SAM frame: ``method.coarse_inputs`` simulates at
SAM's input size, never at the 224 training size.

Every draw comes from the ``generator`` argument, so a seeded run sees the same masks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _uniform(gen: torch.Generator, low: float = 0.0, high: float = 1.0) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen))


def _choice(gen: torch.Generator, options: tuple[int, ...]) -> int:
    return options[int(torch.randint(len(options), (), generator=gen))]


def morph(x: torch.Tensor, size: int, dilate: bool) -> torch.Tensor:
    """Grey dilation (max filter) or erosion (min filter) with a ``size`` x ``size`` square."""
    pad = size // 2
    return F.max_pool2d(x, size, 1, pad) if dilate else -F.max_pool2d(-x, size, 1, pad)


def _disc(shape: tuple[int, int], cx: float, cy: float, radius: float) -> torch.Tensor:
    ys = torch.arange(shape[0]).view(-1, 1).float()
    xs = torch.arange(shape[1]).view(1, -1).float()
    return torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius ** 2))


def _holes_or_blobs(x: torch.Tensor, gen: torch.Generator, add: bool) -> torch.Tensor:
    """1-3 Gaussian spots of radius 3-10 % of the side, cut out of (holes) or added to (blobs)."""
    height, width = x.shape[-2:]
    for _ in range(int(torch.randint(1, 4, (), generator=gen))):
        spot = _disc((height, width), _uniform(gen, 0, width), _uniform(gen, 0, height),
                     _uniform(gen, 0.03, 0.1) * min(height, width))
        x = torch.maximum(x, spot) if add else x * (1 - spot)
    return x


def _dropout(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A half or a quadrant scaled by U(0.3, 0.7)."""
    height, width = x.shape[-2:]
    region = torch.zeros_like(x, dtype=torch.bool)
    rows = slice(0, height // 2) if _uniform(gen) < 0.5 else slice(height // 2, height)
    cols = slice(0, width // 2) if _uniform(gen) < 0.5 else slice(width // 2, width)
    if _uniform(gen) < 0.5:
        region[..., rows, :] = True  # half
    else:
        region[..., rows, cols] = True  # quadrant
    return torch.where(region, x * _uniform(gen, 0.3, 0.7), x)


SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def boundary_noise(x: torch.Tensor, gen: torch.Generator, sigma: float = 0.2) -> torch.Tensor:
    """Gaussian noise of std ``sigma`` (twice the base noise level 0.1) added only where the
    mask's Sobel gradient magnitude ``|gx| + |gy|`` exceeds 0.1: imprecise boundaries
    (``finetune_sam.py``'s boundary jitter, methods-spec 6.5)."""
    kernels = torch.stack([SOBEL, SOBEL.T])[:, None].to(x)
    grad = F.conv2d(x, kernels, padding=1).abs().sum(1, keepdim=True)
    edge = (grad > 0.1).to(x)
    return x + sigma * torch.randn(x.shape, generator=gen).to(x) * edge


def simulate(mask: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A soft coarse mask ``[H, W]`` in [0, 1] from a binary reference ``[H, W]``."""
    x = mask.float()[None, None]
    if _uniform(gen) < 0.5:
        x = morph(x, _choice(gen, (3, 5)), dilate=_uniform(gen) < 0.5)
    if _uniform(gen) < 0.5:
        size = _choice(gen, (5, 7, 9))
        x = F.avg_pool2d(x, size, 1, size // 2, count_include_pad=False)
    if _uniform(gen) < 0.3:
        x = _holes_or_blobs(x, gen, add=False)
    if _uniform(gen) < 0.3:
        x = _holes_or_blobs(x, gen, add=True)
    if _uniform(gen) < 0.3:
        x = boundary_noise(x, gen)
    if _uniform(gen) < 0.2:
        x = _dropout(x, gen)
    x = x + 0.1 * torch.randn(x.shape, generator=gen)
    return x.clamp(0, 1)[0, 0]
