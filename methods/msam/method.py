"""M-SAM (Shi et al., "Mask-Enhanced Segment Anything Model for Tumor Lesion Semantic
Segmentation", MICCAI 2024; nanase1025/M-SAM @fcec7ef), written in the project.

SAM-Med3D ``vit_b_ori`` (frozen; LoRA r=4 on q and v of every block), its 3D prompt encoder and
mask decoder, and the Mask-Enhanced Adapter (MEA) in place of the decoder's image + dense-prompt
sum (:mod:`methods.msam.model`). Training is M-SAM's iterative refinement (``train_step``): the
image embedding is computed once, then ``iterations`` times a click is drawn from the current
error (:mod:`methods.msam.clicks`) and decoded with the previous low-res logits as the mask
prompt; the DiceCE losses of all iterations are summed. ``feed_back`` switches between the
reference code (the original embedding every iteration) and the paper's figure (the MEA output
becomes the next iteration's embedding); it is a result field.

Batches are the harness's 3D patches (card ``volumes: patches``): ``image`` ``[B, 1, X, Y, Z]``
in [0, 1]; the method z-normalises over voxels > 0 as the reference's ``tio.ZNormalization``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from methods._api import Batch, load_state_strict, read_checkpoint
from methods.msam.clicks import next_click, to_axis_order
from methods.msam.model import MSAM, lora_prefixes, variant


@dataclass
class Config:
    """Defaults from M-SAM's train_msam.py / SAM-Med3D unless noted."""

    variant: str = "base"  # "base" (SAM-Med3D vit_b_ori) or "tiny" (CPU)
    backbone: str = "vit_b_ori"  # SAM-Med3D registry key M-SAM builds on
    frozen: tuple[str, ...] = ()  # build() freezes the base encoder itself (LoRA stays trainable)
    optimizer: str = "adamw"  # train_msam.py: AdamW
    lr: float = 8e-4  # train_msam.py: LoRA (image encoder) and MEA lr
    decoder_lr: float = 8e-5  # train_msam.py: prompt encoder and mask decoder lr
    weight_decay: float = 0.1  # train_msam.py: on every group
    max_steps: int = 20000  # 200 epochs x ~100 batches of 2 (dataset-dependent; a budget)
    batch_size: int = 2  # train_msam.py
    image_size: int = 0  # unused: 3D methods take patch_size (kept for the contract)
    patch_size: list[int] = field(default_factory=lambda: [128, 128, 128])  # SAM-Med3D 128^3
    target_spacing: list[float] = field(default_factory=lambda: [1.5, 1.5, 1.5])  # SAM-Med3D
    sw_overlap: float = 0.5  # our choice (the reference has no test script)
    sw_blend: str = "gaussian"  # our choice, as unet3d
    lora_rank: int = 4  # train_msam.py: LoRA_Sam(model, r=4)
    # clicks per training patch; None = the variant's: base 11 (train_msam.py, which ignores its
    # num_clicks), tiny 3 (every iteration keeps its full-size logits for the backward pass)
    iterations: int | None = None
    feed_back: bool = False  # reference code: no; paper figure: the MEA output is fed back
    multi_click: bool = False  # train_msam.py --multi_click off: only the newest click
    weights: str | None = None  # sam_med3d_turbo.pth (card registry) or None (random init)
    weights_sha256: str | None = None


def build(cfg: Config, weights_path: Path | None) -> nn.Module:
    """The model; a SAM-Med3D(-turbo) checkpoint (``model_state_dict``) loads strictly, LoRA
    and MEA stay at their initial values (recorded in ``model.reinitialised``)."""
    model = MSAM(cfg.variant, cfg.patch_size, cfg.lora_rank)
    if weights_path is not None:
        # a training checkpoint with pickled argparse args; read after the harness's sha256 check
        state = read_checkpoint(weights_path, allow_pickle=True)
        state = state.get("model_state_dict", state)
        load_state_strict(model, state, str(weights_path), ["mea.", *lora_prefixes(model)])
    return model


def param_groups(model: nn.Module, cfg: Config) -> list[dict[str, Any]]:
    """train_msam.py's AdamW groups: LoRA and MEA at ``lr``, prompt encoder and decoder at
    ``decoder_lr``; weight decay ``weight_decay`` on all."""
    fast, slow = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (fast if name.startswith(("image_encoder.", "mea.")) else slow).append(param)
    return [{"params": fast, "lr": cfg.lr, "weight_decay": cfg.weight_decay},
            {"params": slow, "lr": cfg.decoder_lr, "weight_decay": cfg.weight_decay}]


def znorm(image: torch.Tensor) -> torch.Tensor:
    """Per item z-normalisation over voxels > 0 (torchio ZNormalization(masking x > 0))."""
    out = torch.zeros_like(image)
    for i, item in enumerate(image):
        fg = item > 0
        if fg.sum() > 1:
            vals = item[fg]
            out[i] = torch.where(fg, (item - vals.mean()) / vals.std().clamp_min(1e-6), item)
    return out


def encode(model: nn.Module, batch: Batch, cfg: Config) -> torch.Tensor:
    return model.image_encoder(znorm(batch["image"]))


def _full(model: nn.Module, low_res: torch.Tensor) -> torch.Tensor:
    return F.interpolate(low_res, size=model.image_size, mode="trilinear", align_corners=False)


def iterations_of(cfg: Config) -> int:
    return int(cfg.iterations or variant(cfg.variant)["iterations"])


def refine(model: nn.Module, embedding: torch.Tensor, mask: torch.Tensor, cfg: Config
           ) -> list[torch.Tensor]:
    """The full-size logits of every refinement iteration, clicks drawn from ``mask``."""
    low = torch.zeros(mask.shape[0], 1, *model.low_res, device=mask.device)
    prob, outputs, clicks = torch.zeros_like(mask, dtype=torch.float32), [], []
    for _ in range(iterations_of(cfg)):
        with torch.no_grad():
            clicks.append(next_click(prob, mask))
        points = clicks[-1] if not cfg.multi_click else tuple(
            torch.cat(part, dim=1) for part in zip(*clicks, strict=True))
        low, fused = model.decode(embedding, points, low)
        embedding = fused if cfg.feed_back else embedding
        outputs.append(_full(model, low))
        prob = torch.sigmoid(outputs[-1].detach())
    return outputs


def train_step(model: nn.Module, batch: Batch, cfg: Config) -> dict[str, torch.Tensor]:
    """DiceCE (sigmoid, squared denominators) summed over the refinement iterations."""
    from monai.losses import DiceCELoss

    loss_fn = DiceCELoss(sigmoid=True, squared_pred=True, reduction="mean")
    mask = batch["mask"].float()
    outputs = refine(model, encode(model, batch, cfg), mask, cfg)
    losses = torch.stack([loss_fn(out, mask) for out in outputs])
    return {"loss": losses.sum(), "loss_first": losses[0].detach(),
            "loss_last": losses[-1].detach()}


def decode(model: nn.Module, features: torch.Tensor, batch: Batch, cfg: Config) -> torch.Tensor:
    """Probabilities ``[B, 1, X, Y, Z]`` from the clicks so far (``points`` (x, y, z),
    ``point_labels``; the newest only unless ``multi_click``) and ``previous`` (probabilities,
    brought to low-res logits as the mask prompt). Without clicks: the unprompted decode
    (no sparse tokens but SAM's padding point, an all-zero mask prompt)."""
    b = features.shape[0]
    low = torch.zeros(b, 1, *model.low_res, device=features.device)
    if batch.get("previous") is not None:
        prev = F.interpolate(batch["previous"].float(), size=model.low_res, mode="trilinear",
                             align_corners=False).clamp(1e-4, 1 - 1e-4)
        low = torch.logit(prev)
    points = None
    if batch.get("points") is not None:
        coords, labels = to_axis_order(batch["points"].float()), batch["point_labels"]
        points = (coords, labels) if cfg.multi_click else (coords[:, -1:], labels[:, -1:])
    else:
        points = (torch.zeros(b, 0, 3, device=features.device),
                  torch.zeros(b, 0, dtype=torch.long, device=features.device))
    logits, _ = model.decode(features, points, low)
    return torch.sigmoid(_full(model, logits)).float()


def predict(model: nn.Module, batch: Batch, cfg: Config) -> torch.Tensor:
    return decode(model, encode(model, batch, cfg), batch, cfg)
