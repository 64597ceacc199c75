"""M-SAM's Mask-Enhanced Adapter (MEA; Shi et al., MICCAI 2024), our code.

As ``BiDirectionalAttentionNetwork(384, (8, 8, 8), num_attention_blocks=1)`` of nanase1025/M-SAM
@fcec7ef ``mea.py`` (methods-spec Part 5.2): the image embedding and the dense mask-prompt
embedding enhance each other and are fused into the single embedding that replaces SAM's
``image + dense`` sum in the mask decoder.

1. LayerNorm3d on both inputs.
2. Mutual feature enhancement: per branch conv 3^3 -> LN -> GELU -> conv 1^3, + input, LN (E').
   The image branch attends over E_img + E_mask' + E_mask, the mask branch over
   E_img' + E_img + E_mask (each input enriched by the other's enhanced features); each is a
   relative-position self-attention, add & LN, MLP (4x), add & LN (E'').
3. Fusion: x = E_img'' + E_img + E_mask'' + E_mask -> self-attention -> add & LN -> + MLP.
"""

from __future__ import annotations

import torch
from torch import nn

from methods.msam.vit3d import LayerNorm3d, MLPBlock, add_rel_pos


class RelPosAttention(nn.Module):
    """mea.py's ``Attention`` on ``[B, C, X, Y, Z]``: pre-LN, multi-head self-attention with
    decomposed 3D relative positions, residual, LN, and an MLP whose output it returns."""

    def __init__(self, dim: int, heads: int, grid: tuple[int, int, int]) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.rel_pos_d, self.rel_pos_h, self.rel_pos_w = (
            nn.Parameter(torch.zeros(2 * n - 1, dim // heads)) for n in grid)
        self.norm1, self.norm2 = LayerNorm3d(dim), LayerNorm3d(dim)
        self.mlp = MLPBlock(dim, 4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, d, h, w = x.shape
        shortcut = x.permute(0, 2, 3, 4, 1)
        y = self.norm1(x).permute(0, 2, 3, 4, 1)
        qkv = self.qkv(y).reshape(b, d * h * w, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, b * self.heads, d * h * w, -1).unbind(0)
        attn = add_rel_pos((q * self.scale) @ k.transpose(-2, -1), q,
                           (self.rel_pos_d, self.rel_pos_h, self.rel_pos_w), (d, h, w))
        y = (attn.softmax(-1) @ v).view(b, self.heads, d, h, w, -1)
        y = self.proj(y.permute(0, 2, 3, 4, 1, 5).reshape(b, d, h, w, c)) + shortcut
        y = self.norm2(y.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
        return self.mlp(y).permute(0, 4, 1, 2, 3)


class Enhance(nn.Module):
    """conv 3^3 -> LN -> GELU -> conv 1^3, + input, LN (one MFEB branch)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv3d(dim, dim, 3, padding=1), LayerNorm3d(dim), nn.GELU(),
                                  nn.Conv3d(dim, dim, 1))
        self.norm = LayerNorm3d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.conv(x))


class AttendBranch(nn.Module):
    """Self-attention, add & LN, MLP, add & LN on ``[B, C, X, Y, Z]``."""

    def __init__(self, dim: int, heads: int, grid: tuple[int, int, int]) -> None:
        super().__init__()
        self.attn = RelPosAttention(dim, heads, grid)
        self.norm1, self.norm2 = LayerNorm3d(dim), LayerNorm3d(dim)
        self.mlp = MLPBlock(dim, 4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attn(x))
        mlp = self.mlp(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        return self.norm2(x + mlp)


class MaskEnhancedAdapter(nn.Module):
    """``(image [B, C, *grid], dense mask prompt [B, C, *grid]) -> fused [B, C, *grid]``."""

    def __init__(self, dim: int, heads: int, grid: tuple[int, int, int]) -> None:
        super().__init__()
        self.norm_image, self.norm_mask = LayerNorm3d(dim), LayerNorm3d(dim)
        self.enhance_image, self.enhance_mask = Enhance(dim), Enhance(dim)
        self.attend_image = AttendBranch(dim, heads, grid)
        self.attend_mask = AttendBranch(dim, heads, grid)
        self.fuse = RelPosAttention(dim, heads, grid)
        self.fuse_norm = LayerNorm3d(dim)
        self.fuse_mlp = MLPBlock(dim, 4 * dim)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        image, mask = self.norm_image(image), self.norm_mask(mask)
        image_e, mask_e = self.enhance_image(image), self.enhance_mask(mask)
        image_ee = self.attend_image(image + mask_e + mask)  # image attends with mask cues
        mask_ee = self.attend_mask(image_e + image + mask)  # mask attends with image cues
        x = image_ee + image + mask_ee + mask
        x = self.fuse_norm(x + self.fuse(x))
        return x + self.fuse_mlp(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
