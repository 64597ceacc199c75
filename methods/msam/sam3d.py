"""SAM-Med3D's 3D prompt encoder and mask decoder (M-SAM's ``new_MaskDecoder3D``), our code.

As nanase1025/M-SAM @fcec7ef ``segment_anything/modeling/{prompt_encoder3D,new_mask_decoder3D}.py``
(parameter names kept for strict loading of SAM-Med3D-turbo): random-Fourier point encodings,
pos/neg/not-a-point embeddings, a mask prompt downscaled x4 by two stride-2 convs, SAM's two-way
transformer, and a decoder whose image + dense-prompt sum is replaced by an adapter (M-SAM's MEA),
x4 transposed-conv upscaling and hypernetwork MLPs. Boxes are not used by M-SAM (no box tokens).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from methods.msam.vit3d import LayerNorm3d, MLPBlock


class PositionEmbeddingRandom3D(nn.Module):
    """Random spatial frequencies; 3 * (dim // 3) channels as [sin, cos, sin] (SAM-Med3D)."""

    def __init__(self, feats: int) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn((3, feats)))

    def _encode(self, coords: torch.Tensor) -> torch.Tensor:
        coords = 2 * math.pi * ((2 * coords - 1) @ self.positional_encoding_gaussian_matrix)
        return torch.cat([torch.sin(coords), torch.cos(coords), torch.sin(coords)], dim=-1)

    def forward(self, size: tuple[int, int, int]) -> torch.Tensor:
        """``[C, X, Y, Z]`` encodings of the voxel centres of a grid. As SAM-Med3D, the first
        coordinate is the position along axis 1 and the second along axis 0 (the pretrained
        weights learned this order; clicks use axis order, which agree on the diagonal)."""
        grid = torch.ones(size, device=self.positional_encoding_gaussian_matrix.device)
        pos = [(grid.cumsum(dim=a) - 0.5) / n for a, n in enumerate(size)]
        return self._encode(torch.stack([pos[1], pos[0], pos[2]], dim=-1)).permute(3, 0, 1, 2)

    def forward_with_coords(self, coords: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
        scale = torch.tensor(size, dtype=torch.float32, device=coords.device)
        return self._encode(coords.float() / scale)


class PromptEncoder3D(nn.Module):
    def __init__(self, dim: int, grid: tuple[int, int, int], image_size: tuple[int, int, int],
                 mask_chans: int) -> None:
        super().__init__()
        self.dim, self.grid, self.image_size = dim, grid, image_size
        self.pe_layer = PositionEmbeddingRandom3D(dim // 3)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, dim) for _ in range(2))
        self.not_a_point_embed = nn.Embedding(1, dim)
        self.mask_downscaling = nn.Sequential(
            nn.Conv3d(1, mask_chans // 4, 2, stride=2), LayerNorm3d(mask_chans // 4), nn.GELU(),
            nn.Conv3d(mask_chans // 4, mask_chans, 2, stride=2), LayerNorm3d(mask_chans),
            nn.GELU(), nn.Conv3d(mask_chans, dim, 1))
        self.no_mask_embed = nn.Embedding(1, dim)

    def get_dense_pe(self) -> torch.Tensor:
        return self.pe_layer(self.grid)[None]

    def forward(self, points: tuple[torch.Tensor, torch.Tensor] | None,
                masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse ``[B, N + 1, C]`` (the clicks, voxel indices in tensor axis order, and SAM's
        padding point) and dense ``[B, C, *grid]`` embeddings of the low-res ``masks``."""
        b = masks.shape[0]
        sparse = torch.empty((b, 0, self.dim), device=masks.device)
        if points is not None:
            coords, labels = points
            coords = torch.cat([coords + 0.5, torch.zeros_like(coords[:, :1])], dim=1)
            labels = torch.cat([labels, -torch.ones_like(labels[:, :1])], dim=1)
            emb = self.pe_layer.forward_with_coords(coords, self.image_size)
            pad, neg, pos = ((labels == v)[..., None] for v in (-1, 0, 1))
            emb = torch.where(pad, self.not_a_point_embed.weight, emb)
            emb = (emb + neg * self.point_embeddings[0].weight
                   + pos * self.point_embeddings[1].weight)
            sparse = torch.cat([sparse, emb], dim=1)
        return sparse, self.mask_downscaling(masks)


class Attention(nn.Module):
    """SAM's attention with an optional downscaled internal dimension."""

    def __init__(self, dim: int, heads: int, downsample: int = 1) -> None:
        super().__init__()
        inner = dim // downsample
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(dim, inner) for _ in range(3))
        self.out_proj = nn.Linear(inner, dim)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        def split(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

        q, k, v = split(self.q_proj(q)), split(self.k_proj(k)), split(self.v_proj(v))
        attn = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
        out = (attn @ v).transpose(1, 2)
        return self.out_proj(out.reshape(out.shape[0], out.shape[1], -1))


class TwoWayBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int, skip_first_pe: bool) -> None:
        super().__init__()
        self.self_attn = Attention(dim, heads)
        self.cross_attn_token_to_image = Attention(dim, heads, 2)
        self.cross_attn_image_to_token = Attention(dim, heads, 2)
        self.mlp = MLPBlock(dim, mlp, nn.ReLU)
        self.norm1, self.norm2, self.norm3, self.norm4 = (nn.LayerNorm(dim) for _ in range(4))
        self.skip_first_pe = skip_first_pe

    def forward(self, tok: torch.Tensor, img: torch.Tensor, tok_pe: torch.Tensor,
                img_pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = tok if self.skip_first_pe else tok + tok_pe
        tok = self.norm1(self.self_attn(q, q, tok) if self.skip_first_pe
                         else tok + self.self_attn(q, q, tok))
        tok = self.norm2(tok + self.cross_attn_token_to_image(tok + tok_pe, img + img_pe, img))
        tok = self.norm3(tok + self.mlp(tok))
        img = self.norm4(img + self.cross_attn_image_to_token(img + img_pe, tok + tok_pe, tok))
        return tok, img


class TwoWayTransformer3D(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int, depth: int = 2) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TwoWayBlock(dim, heads, mlp, i == 0) for i in range(depth))
        self.final_attn_token_to_image = Attention(dim, heads, 2)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(self, img: torch.Tensor, img_pe: torch.Tensor, tok: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        img, img_pe = img.flatten(2).transpose(1, 2), img_pe.flatten(2).transpose(1, 2)
        queries = tok
        for layer in self.layers:
            queries, img = layer(queries, img, tok, img_pe)
        out = self.final_attn_token_to_image(queries + tok, img + img_pe, img)
        return self.norm_final_attn(queries + out), img


class MLP(nn.Module):
    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b)
                                    for a, b in zip(dims[:-1], dims[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else torch.relu(layer(x))
        return x


Adapter = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class MaskDecoder3D(nn.Module):
    """Tokens (IoU + 4 masks + prompts) x (adapter(image, dense)) -> ``[B, 1, *4 grid]`` logits."""

    def __init__(self, dim: int, heads: int, mlp: int, iou_hidden: int, masks: int = 4) -> None:
        super().__init__()
        self.transformer = TwoWayTransformer3D(dim, heads, mlp)
        self.iou_token, self.mask_tokens = nn.Embedding(1, dim), nn.Embedding(masks, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose3d(dim, dim // 4, 2, stride=2), LayerNorm3d(dim // 4), nn.GELU(),
            nn.ConvTranspose3d(dim // 4, dim // 8, 2, stride=2), nn.GELU())
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP([dim, dim, dim, dim // 8]) for _ in range(masks))
        self.iou_prediction_head = MLP([dim, iou_hidden, iou_hidden, masks])

    def forward(self, image: torch.Tensor, image_pe: torch.Tensor, sparse: torch.Tensor,
                dense: torch.Tensor, adapter: Adapter) -> tuple[torch.Tensor, torch.Tensor]:
        """Single-mask output (M-SAM: ``multimask_output=False``) and the adapted embedding."""
        tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight])[None]
        tokens = torch.cat([tokens.expand(sparse.shape[0], -1, -1), sparse], dim=1)
        src = adapter(image, dense)  # M-SAM: the MEA replaces SAM's image + dense sum
        b, c, *grid = src.shape
        hs, out = self.transformer(src, image_pe.expand(b, -1, -1, -1, -1), tokens)
        up = self.output_upscaling(out.transpose(1, 2).reshape(b, c, *grid))
        hyper = self.output_hypernetworks_mlps[0](hs[:, 1])  # mask token 0 = the single mask
        logits = (hyper[:, None] @ up.flatten(2)).view(b, 1, *up.shape[2:])
        return logits, src
