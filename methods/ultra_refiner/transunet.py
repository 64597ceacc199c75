"""TransUNet (R50-ViT-B/16) on timm's R50+ViT hybrid: the coarse network of UltraRefiner.

The encoder is timm's ``vit_base_r50_s16_224`` (ResNetV2-50 stem with GroupNorm and
weight-standardised convs, blocks (3, 4, 9), ViT-B/16 on the 14x14 map with 1x1 patches), so we do
not re-type upstream's encoder. Only TransUNet's own parts are ours: the three skips taken from the
ResNet (forward hooks), the cascaded upsampling decoder and the segmentation head
(Beckschen/TransUNet ``vit_seg_modeling.py``: ``DecoderCup``, ``DecoderBlock``,
``SegmentationHead``; methods-spec 1.5 and the shape table of 6.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Layout:
    """Sizes of one TransUNet variant."""

    layers: tuple[int, ...]  # ResNetV2 blocks per stage
    stem: int  # stem channels (the 1/2-resolution skip)
    stages: tuple[int, int, int]  # stage output channels (1/4, 1/8, 1/16)
    embed: int  # ViT hidden size
    depth: int
    heads: int
    groups: int  # GroupNorm groups of the ResNet
    decoder: tuple[int, int, int, int]  # vit_seg_configs: decoder_channels
    head_in: int  # conv_more output channels


# vit_seg_configs.get_r50_b16_config: blocks (3, 4, 9), hidden 768, 12 layers, 12 heads,
# decoder (256, 128, 64, 16), conv_more 512, n_skip 3; GroupNorm(32) in ResNetV2.
LAYOUTS = {
    "base": Layout((3, 4, 9), 64, (256, 512, 1024), 768, 12, 12, 32, (256, 128, 64, 16), 512),
    # Ours, for 2-core CPU tests (named in the card): one block per stage, widths / 8.
    "tiny": Layout((1, 1, 1), 16, (32, 64, 128), 64, 2, 2, 8, (32, 16, 8, 4), 64),
}


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """vit_seg_modeling.Conv2dReLU: 3x3 conv (no bias), BatchNorm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class DecoderBlock(nn.Module):
    """Bilinear x2, concatenate the skip (if any), two conv-BN-ReLU."""

    def __init__(self, cin: int, skip: int, cout: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(cin + skip, cout)
        self.conv2 = _conv_bn_relu(cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        # nn.UpsamplingBilinear2d(scale_factor=2) in upstream = align_corners=True
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


def _encoder(spec: Layout, img_size: int, variant: str) -> nn.Module:
    """timm's hybrid ViT without classifier; ``base`` is ``vit_base_r50_s16_224`` itself."""
    import timm
    from timm.layers import GroupNormAct, StdConv2dSame
    from timm.models.resnetv2 import ResNetV2
    from timm.models.vision_transformer import VisionTransformer
    from timm.models.vision_transformer_hybrid import HybridEmbed

    if variant == "base":
        return timm.create_model("vit_base_r50_s16_224", pretrained=False, num_classes=0,
                                 global_pool="", img_size=img_size)
    backbone = ResNetV2(  # the same construction as timm's _resnetv2, smaller
        layers=spec.layers, channels=spec.stages, stem_chs=spec.stem, num_classes=0,
        global_pool="", preact=False, stem_type="same", conv_layer=partial(StdConv2dSame, eps=1e-8),
        norm_layer=partial(GroupNormAct, num_groups=spec.groups))
    return VisionTransformer(img_size=img_size, patch_size=1, embed_dim=spec.embed,
                             depth=spec.depth, num_heads=spec.heads, num_classes=0,
                             global_pool="", embed_layer=partial(HybridEmbed, backbone=backbone))


class TransUNet(nn.Module):
    """``[B, 3, S, S]`` in [0, 1] -> 2-class logits ``[B, 2, S, S]`` (S a multiple of 16)."""

    def __init__(self, variant: str, img_size: int, num_classes: int = 2) -> None:
        super().__init__()
        if img_size % 16:
            raise ValueError(f"method.coarse_size={img_size} must be a multiple of 16")
        spec = LAYOUTS[variant]
        self.img_size = img_size
        self.encoder = _encoder(spec, img_size, variant)
        self.conv_more = _conv_bn_relu(spec.embed, spec.head_in)
        ins = (spec.head_in, *spec.decoder[:-1])
        skips = (spec.stages[1], spec.stages[0], spec.stem, 0)  # n_skip=3: none on the last block
        self.blocks = nn.ModuleList(DecoderBlock(i, s, o)
                                    for i, s, o in zip(ins, skips, spec.decoder, strict=True))
        self.head = nn.Conv2d(spec.decoder[-1], num_classes, 3, padding=1)  # SegmentationHead

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """ViT tokens as a ``[B, C, S/16, S/16]`` map and the skips (1/8, 1/4, 1/2)."""
        backbone = self.encoder.patch_embed.backbone
        taken: list[torch.Tensor] = []
        hooks = [m.register_forward_hook(lambda _m, _i, out: taken.append(out))
                 for m in (backbone.stem.norm, backbone.stages[0], backbone.stages[1])]
        try:
            tokens = self.encoder.forward_features(x)
        finally:
            for hook in hooks:
                hook.remove()
        tokens = tokens[:, self.encoder.num_prefix_tokens:]  # timm keeps a class token
        grid = self.img_size // 16
        fmap = tokens.transpose(1, 2).reshape(x.shape[0], -1, grid, grid)
        return fmap, taken[::-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fmap, skips = self.features(x)
        x = self.conv_more(fmap)
        for block, skip in zip(self.blocks, [*skips, None], strict=True):
            x = block(x, skip)
        return self.head(x)
