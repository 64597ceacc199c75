"""SAM-Med3D's 3D ViT image encoder (``vit_b_ori``) with M-SAM's LoRA on q and v, our code.

Architecture as SAM-Med3D's ``ImageEncoderViT3D`` (uni-medical/SAM-Med3D, Apache-2.0; the copy in
nanase1025/M-SAM @fcec7ef ``segment_anything/modeling/image_encoder3D.py``): a 16^3-voxel patch
embedding, an absolute position embedding, ViTDet blocks with decomposed 3D relative positions
(window attention with zero padding to the window, global attention in ``global_blocks``) and a
neck (1^3 conv, LayerNorm3d, 3^3 conv, LayerNorm3d) down to the prompt dimension. Parameter names
follow upstream so a SAM-Med3D-turbo state dict loads strictly.

LoRA (M-SAM ``sam_lora_image_encoder.py``): per block, two bias-free rank-r adapters on the fused
qkv output, one added to the q slice and one to the v slice; no scaling; A Kaiming-uniform
(a = sqrt 5), B zeros, so an untrained adapter leaves the base model unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm3d(nn.Module):
    """LayerNorm over the channels of ``[B, C, X, Y, Z]`` (SAM's LayerNorm2d in 3D)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None, None] * x + self.bias[:, None, None, None]


class MLPBlock(nn.Module):
    def __init__(self, dim: int, hidden: int, act: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.lin1, self.lin2, self.act = nn.Linear(dim, hidden), nn.Linear(hidden, dim), act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))


def rel_pos_table(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """``[q, k, C]`` embeddings of the relative offsets along one axis (interpolated when the
    table was made for another size), as SAM's ``get_rel_pos``."""
    max_dist = 2 * max(q_size, k_size) - 1
    if rel_pos.shape[0] != max_dist:
        rel_pos = F.interpolate(rel_pos.T[None], size=max_dist, mode="linear")[0].T
    q = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    return rel_pos[((q - k) + (k_size - 1) * max(q_size / k_size, 1.0)).long()]


def add_rel_pos(attn: torch.Tensor, q: torch.Tensor, tables: Sequence[torch.Tensor],
                size: tuple[int, int, int]) -> torch.Tensor:
    """Add decomposed 3D relative positions (MViTv2) to ``attn`` [B, N, N] (``q``: [B, N, C])."""
    d, h, w = size
    rd, rh, rw = (rel_pos_table(n, n, t) for n, t in zip(size, tables, strict=True))
    r_q = q.reshape(q.shape[0], d, h, w, -1)
    rel_d = torch.einsum("bdhwc,dkc->bdhwk", r_q, rd)[..., :, None, None]
    rel_h = torch.einsum("bdhwc,hkc->bdhwk", r_q, rh)[..., None, :, None]
    rel_w = torch.einsum("bdhwc,wkc->bdhwk", r_q, rw)[..., None, None, :]
    attn = attn.view(q.shape[0], d, h, w, d, h, w) + rel_d + rel_h + rel_w
    return attn.view(q.shape[0], d * h * w, d * h * w)


class LoRA(nn.Module):
    """x -> B(A x): bias-free rank-``r`` update; B starts at zero (the base output unchanged)."""

    def __init__(self, dim: int, rank: int) -> None:
        super().__init__()
        self.a = nn.Linear(dim, rank, bias=False)
        self.b = nn.Linear(rank, dim, bias=False)
        nn.init.kaiming_uniform_(self.a.weight, a=math.sqrt(5))
        nn.init.zeros_(self.b.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


class Attention(nn.Module):
    """Multi-head self-attention on ``[B, D, H, W, C]`` tokens with decomposed relative positions
    and optional LoRA on the q and v slices of the fused qkv projection."""

    def __init__(self, dim: int, heads: int, size: tuple[int, int, int], lora_rank: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, dim * 3), nn.Linear(dim, dim)
        self.rel_pos_d, self.rel_pos_h, self.rel_pos_w = (
            nn.Parameter(torch.zeros(2 * n - 1, dim // heads)) for n in size)
        self.lora_q = LoRA(dim, lora_rank) if lora_rank else None
        self.lora_v = LoRA(dim, lora_rank) if lora_rank else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, d, h, w, c = x.shape
        qkv = self.qkv(x)
        if self.lora_q is not None and self.lora_v is not None:
            zero = torch.zeros_like(x)
            qkv = qkv + torch.cat([self.lora_q(x), zero, self.lora_v(x)], dim=-1)
        qkv = qkv.reshape(b, d * h * w, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, b * self.heads, d * h * w, -1).unbind(0)
        attn = add_rel_pos((q * self.scale) @ k.transpose(-2, -1), q,
                           (self.rel_pos_d, self.rel_pos_h, self.rel_pos_w), (d, h, w))
        out = (attn.softmax(-1) @ v).view(b, self.heads, d, h, w, -1)
        return self.proj(out.permute(0, 2, 3, 4, 1, 5).reshape(b, d, h, w, -1))


def window_partition(x: torch.Tensor, win: int) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """``[B, D, H, W, C]`` -> ``[B * windows, win, win, win, C]``, zero-padded to the window."""
    b, d, h, w, c = x.shape
    pads = [(win - n % win) % win for n in (d, h, w)]
    x = F.pad(x, (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
    dp, hp, wp = d + pads[0], h + pads[1], w + pads[2]
    x = x.view(b, dp // win, win, hp // win, win, wp // win, win, c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, win, win, win, c), (dp, hp, wp)


def window_unpartition(x: torch.Tensor, win: int, padded: tuple[int, int, int],
                       size: tuple[int, int, int]) -> torch.Tensor:
    dp, hp, wp = padded
    b = x.shape[0] // ((dp // win) * (hp // win) * (wp // win))
    x = x.view(b, dp // win, hp // win, wp // win, win, win, win, -1)
    x = x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, dp, hp, wp, -1)
    return x[:, :size[0], :size[1], :size[2]].contiguous()


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, grid: tuple[int, int, int],
                 lora_rank: int) -> None:
        super().__init__()
        self.window = window
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        size = (window,) * 3 if window else grid
        self.attn = Attention(dim, heads, size, lora_rank)
        self.mlp = MLPBlock(dim, 4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut, x = x, self.norm1(x)
        if self.window:
            size = tuple(x.shape[1:4])
            x, padded = window_partition(x, self.window)
            x = window_unpartition(self.attn(x), self.window, padded, size)  # type: ignore[arg-type]
        else:
            x = self.attn(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(1, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 4, 1)  # [B, C, X, Y, Z] -> [B, X, Y, Z, C]


class ImageEncoder(nn.Module):
    """``[B, 1, X, Y, Z]`` -> image embedding ``[B, out_dim, X/p, Y/p, Z/p]``."""

    def __init__(self, grid: tuple[int, int, int], patch: int, dim: int, depth: int, heads: int,
                 global_blocks: Sequence[int], window: int, out_dim: int, lora_rank: int) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(patch, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, *grid, dim))
        self.blocks = nn.ModuleList(
            Block(dim, heads, 0 if i in global_blocks else window, grid, lora_rank)
            for i in range(depth))
        self.neck = nn.Sequential(nn.Conv3d(dim, out_dim, 1, bias=False), LayerNorm3d(out_dim),
                                  nn.Conv3d(out_dim, out_dim, 3, padding=1, bias=False),
                                  LayerNorm3d(out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.neck(x.permute(0, 4, 1, 2, 3))
