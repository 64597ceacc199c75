"""A 3D U-Net configured the nnU-Net way, on MONAI's DynUNet: the traditional CT/MR reference.

Isensee et al., nnU-Net (Nature Methods 2021), "3d_fullres": kernel sizes and strides from the
target spacing and the patch size (:mod:`methods.unet3d.plan`), 32 filters doubling per level up
to 320, instance norm + leaky ReLU (DynUNet's defaults are nnU-Net's), deep supervision with
weights 1/2^i normalised to sum 1, and Dice + cross-entropy. The harness owns everything around the
network (card ``volumes: patches``, :mod:`benchmarks.data.patches`): intensity normalisation,
resampling to ``target_spacing``, foreground-oversampled patches and sliding-window inference.

Batches are 3D: ``image`` float32 ``[B, 1, X, Y, Z]`` (already normalised by the harness) and
``mask`` ``[B, 1, X, Y, Z]``; ``predict`` returns foreground probabilities of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from methods._api import Batch, load_state_dict_strict
from methods.unet3d.plan import kernels_and_strides

# Only what differs per variant (style guide B9.6). "tiny" trains a few steps on CPU in seconds.
VARIANTS = {
    "base": {"base_filters": 32, "max_filters": 320},  # nnU-Net: 32 * 2^level, capped at 320
    "tiny": {"base_filters": 4, "max_filters": 32},
}


@dataclass
class Config:
    """Defaults from nnU-Net's 3d_fullres configuration unless noted."""

    variant: str = "base"  # "base" (nnU-Net widths) or "tiny" (CPU)
    backbone: str = "dynunet"  # MONAI DynUNet, the only backbone
    frozen: tuple[str, ...] = ()  # random init trains everything
    optimizer: str = "sgd"  # nnU-Net (nnUNetTrainer): SGD
    momentum: float = 0.99  # nnUNetTrainer: momentum 0.99
    nesterov: bool = True  # nnUNetTrainer: nesterov=True
    lr: float = 0.01  # nnU-Net's initial learning rate
    schedule: str = "poly"  # nnU-Net: poly decay (1 - step/steps) ** 0.9
    weight_decay: float = 3e-5  # nnU-Net
    max_steps: int = 25000  # nnU-Net: 1000 epochs x 250 iterations = 250k; a tenth as a budget
    batch_size: int = 2  # nnU-Net's 3d_fullres batch size
    image_size: int = 0  # unused: 3D methods take patch_size (kept for the contract)
    patch_size: list[int] = field(default_factory=lambda: [128, 128, 64])  # [X, Y, Z] voxels
    # mm per voxel the network sees [X, Y, Z]; nnU-Net takes the dataset's median spacing, this
    # is a typical abdominal CT one (set it per dataset in config.yaml)
    target_spacing: list[float] = field(default_factory=lambda: [0.8, 0.8, 2.5])
    sw_overlap: float = 0.5  # nnU-Net's sliding-window step 0.5 = 50% overlap
    sw_blend: str = "gaussian"  # nnU-Net's Gaussian importance weighting (sigma = 1/8 patch)
    deep_supervision: bool = True  # nnU-Net
    weights: str | None = None  # no pretrained file (nnU-Net trains from scratch)
    weights_sha256: str | None = None


def _filters(cfg: Config, levels: int) -> list[int]:
    if cfg.variant not in VARIANTS:
        raise ValueError(f"method.variant={cfg.variant!r}: use one of {sorted(VARIANTS)}")
    width = VARIANTS[cfg.variant]
    return [min(width["base_filters"] * 2**i, width["max_filters"]) for i in range(levels)]


def build(cfg: Config, weights_path: Path | None) -> nn.Module:
    """DynUNet with the nnU-Net topology for ``cfg.patch_size`` at ``cfg.target_spacing``."""
    from monai.networks.nets import DynUNet

    kernels, strides = kernels_and_strides(cfg.target_spacing, cfg.patch_size)
    if len(strides) < 3:
        raise ValueError(f"method.patch_size={list(cfg.patch_size)} allows {len(strides) - 1} "
                         "pooling step(s); a U-Net needs 2 or more: use a larger patch")
    model = DynUNet(3, 1, 2, kernels, strides, strides[1:], filters=_filters(cfg, len(strides)),
                    deep_supervision=cfg.deep_supervision, deep_supr_num=len(strides) - 2)
    model.plan = {"kernels": kernels, "strides": strides}  # recorded for provenance/tests
    if weights_path is not None:
        load_state_dict_strict(model, weights_path)
    return model


def supervision_weights(n: int) -> torch.Tensor:
    """nnU-Net's deep-supervision weights (nnUNetTrainer._build_loss): 1/2^i for output i
    (0 = full resolution), the lowest resolution set to 0, normalised to sum 1."""
    weights = torch.tensor([0.5**i for i in range(n)])
    if n > 1:
        weights[-1] = 0.0
    return weights / weights.sum()


def loss_fn():
    """nnU-Net's Dice + CE (DC_and_CE_loss, weights 1:1): soft Dice over the batch
    (``batch_dice``, 3d_fullres) on the foreground only (``do_bg=False``), smooth 1e-5, plus
    cross-entropy over both classes."""
    from monai.losses import DiceCELoss

    return DiceCELoss(to_onehot_y=True, softmax=True, batch=True, include_background=False,
                      smooth_nr=1e-5, smooth_dr=1e-5)


def train_step(model: nn.Module, batch: Batch, cfg: Config) -> dict[str, torch.Tensor]:
    """Dice + CE over the full-resolution and the deep-supervision outputs (model in train
    mode: DynUNet returns ``[B, heads, 2, X, Y, Z]``, each head upsampled to the patch)."""
    loss = loss_fn()
    out = model(batch["image"])
    target = batch["mask"].long()
    heads = out.unbind(1) if out.ndim == 6 else (out,)
    weights = supervision_weights(len(heads)).to(out.device)
    losses = torch.stack([loss(head, target) for head in heads])
    return {"loss": (weights * losses).sum(), "loss_full_res": losses[0].detach()}


def predict(model: nn.Module, batch: Batch, cfg: Config) -> torch.Tensor:
    """Softmax foreground probability ``[B, 1, X, Y, Z]`` (eval mode: one output)."""
    logits = model(batch["image"])
    return torch.softmax(logits, dim=1)[:, 1:2].float()
