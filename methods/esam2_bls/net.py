"""ESAM2-BLS network (methods-spec 2.2): frozen SAM2 Hiera trunk + per-block adapters, MSIF
bottleneck, lightweight U-decoder with three deep-supervision heads.

The reference code has no runnable network (methods-spec 2.1, 2.9); this follows the paper's
equations as its docstrings give them, wired as methods-spec 2.2 proposes on the real trunk.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _bn_act(channels: int, act: type[nn.Module]) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(channels), act())


class SEAttention(nn.Module):
    """Squeeze-and-excitation channel attention without biases (adapter, Eq. 2)."""

    def __init__(self, channels: int, reduction: int, min_hidden: int) -> None:
        super().__init__()
        # methods-spec 2.2: floor the hidden width so Hiera-T/S stage-1 adapters are not degenerate
        hidden = max(min_hidden, channels // reduction)
        self.fc = nn.Sequential(nn.Linear(channels, hidden, bias=False), nn.ReLU(),
                                nn.Linear(hidden, channels, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=(2, 3)))[:, :, None, None]


def _dw_separable(channels: int, kernel: int) -> nn.Sequential:
    """Depthwise kxk -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=channels, bias=False),
        *_bn_act(channels, nn.ReLU), nn.Conv2d(channels, channels, 1, bias=False),
        *_bn_act(channels, nn.ReLU))


class Adapter(nn.Module):
    """X + Up(Branch(Down(X))) on channel-last Hiera tokens (Eq. 2); starts as the identity."""

    def __init__(self, channels: int, ratio: float, se_reduction: int, se_min_hidden: int) -> None:
        super().__init__()
        inner = max(1, int(channels * ratio))
        self.down = nn.Sequential(nn.Conv2d(channels, inner, 1), nn.ReLU())
        self.branch = nn.Sequential(SEAttention(inner, se_reduction, se_min_hidden),
                                    _dw_separable(inner, 3), _dw_separable(inner, 5))
        self.up = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.up.weight)  # zero output: the pretrained trunk is untouched at step 0
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.permute(0, 3, 1, 2)  # Hiera blocks work on (B, h, w, C)
        return x + self.up(self.branch(self.down(y))).permute(0, 2, 3, 1)


class ADConv(nn.Module):
    """Axial dilated depthwise convolution: 1x3 and 3x1 depthwise convs, dilation rho, summed
    (Eq. 3-5); normalisation and activation are left to the caller."""

    def __init__(self, channels: int, rho: int) -> None:
        super().__init__()
        self.row = nn.Conv2d(channels, channels, (1, 3), padding=(0, rho), dilation=(1, rho),
                             groups=channels, bias=False)
        self.col = nn.Conv2d(channels, channels, (3, 1), padding=(rho, 0), dilation=(rho, 1),
                             groups=channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.row(x) + self.col(x)


class MSIF(nn.Module):
    """Multi-scale information fusion on the deepest stage map (Eq. 3-8)."""

    def __init__(self, channels: int, rhos: tuple[int, ...]) -> None:
        super().__init__()
        half = channels // 2
        self.reduce = nn.Sequential(nn.Conv2d(channels, half, 1, bias=False),
                                    *_bn_act(half, nn.ReLU))  # Eq. 6
        self.branches = nn.ModuleList(
            nn.Sequential(ADConv(half, rho), *_bn_act(half, nn.ReLU)) for rho in rhos)  # Eq. 7
        self.fuse = nn.Sequential(nn.Conv2d(half * len(rhos), channels, 1, bias=False),
                                  *_bn_act(channels, nn.ReLU))  # Eq. 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        return self.fuse(torch.cat([branch(x) for branch in self.branches], dim=1))


class DecoderBlock(nn.Module):
    """Up x2, concatenate the skip, 1x1 conv (Eq. 9), ADConv rho=2 (Eq. 10), BN + GELU (Eq. 11).

    ``conv="dwsc"`` swaps the ADConv for the reference code's 3x3 depthwise conv (its default).
    """

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, conv: str, rho: int) -> None:
        super().__init__()
        self.merge = nn.Sequential(nn.Conv2d(in_ch + skip_ch, out_ch, 1, bias=False),
                                   *_bn_act(out_ch, nn.ReLU))
        if conv == "adconv":
            spatial: nn.Module = ADConv(out_ch, rho)
        elif conv == "dwsc":
            spatial = nn.Conv2d(out_ch, out_ch, 3, padding=1, groups=out_ch, bias=False)
        else:
            raise ValueError(f"method.decoder_conv={conv!r}: use 'adconv' or 'dwsc'")
        self.spatial = nn.Sequential(spatial, *_bn_act(out_ch, nn.GELU))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        # resize straight to the skip's size: the x2 step, and exact when sizes are off by one
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        return self.spatial(self.merge(torch.cat([x, skip], dim=1)))


class ESAM2BLS(nn.Module):
    """Hiera trunk (frozen by the harness via ``frozen: [trunk.]``) with adapters, MSIF, decoder.

    ``forward`` returns three logit maps at the input size, low -> high resolution; the last one
    (the stride-4 decoder block) is the prediction.
    """

    def __init__(self, trunk: nn.Module, adapter_ratio: float, se_reduction: int,
                 se_min_hidden: int, msif_rhos: tuple[int, ...], decoder_conv: str,
                 decoder_rho: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.adapters = nn.ModuleList(
            Adapter(block.dim_out, adapter_ratio, se_reduction, se_min_hidden)
            for block in trunk.blocks)
        widths = [trunk.blocks[i].dim_out for i in trunk.stage_ends]  # C1..C4
        self.msif = MSIF(widths[3], msif_rhos)
        # decoder widths C3/2, C2/2, C1/2: they scale with the Hiera variant (methods-spec 2.2.3)
        outs = [widths[2] // 2, widths[1] // 2, widths[0] // 2]
        ins = [widths[3], *outs[:2]]
        self.decoder = nn.ModuleList(
            DecoderBlock(i, s, o, decoder_conv, decoder_rho)
            for i, s, o in zip(ins, widths[2::-1], outs, strict=True))
        self.heads = nn.ModuleList(nn.Conv2d(o, 1, 1) for o in outs)

    def stage_maps(self, image: torch.Tensor) -> list[torch.Tensor]:
        """F1..F4 as (B, C, h, w): Hiera's forward with an adapter after every block."""
        x = self.trunk.patch_embed(image)
        x = x + self.trunk._get_pos_embed(x.shape[1:3])
        maps = []
        for i, (block, adapter) in enumerate(zip(self.trunk.blocks, self.adapters, strict=True)):
            x = adapter(block(x))
            if i in self.trunk.stage_ends:
                maps.append(x.permute(0, 3, 1, 2))
        return maps

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        f1, f2, f3, f4 = self.stage_maps(image)
        x, logits = self.msif(f4), []
        for block, head, skip in zip(self.decoder, self.heads, (f3, f2, f1), strict=True):
            x = block(x, skip)
            logits.append(F.interpolate(head(x), size=image.shape[-2:], mode="bilinear",
                                        align_corners=False))
        return logits
