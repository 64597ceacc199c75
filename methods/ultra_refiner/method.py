"""UltraRefiner: TransUNet coarse masks refined by SAM through differentiable prompts.

Three phases (card ``phases:``), each trained by the harness from the previous phase's checkpoint:

1. ``coarse``: TransUNet alone, 0.5 CE + 0.5 Dice, SGD 0.01 / momentum 0.9 / wd 1e-4, poly decay.
2. ``refiner``: SAM's prompt encoder + mask decoder (image encoder frozen) on coarse masks: per
   sample, with probability ``oof_ratio`` the out-of-fold Phase-1 prediction the harness puts in
   ``batch["coarse"]`` (two-halves scheme, benchmarks/data/oof.py), else one simulated from the
   reference (``corrupt.py``); loss BCE + Dice + MSE(predicted IoU, true IoU).
3. ``joint``: end to end, w_c * L_coarse + w_r * L_refined, two AdamW groups, cosine, clip 1.0.

``phase_config`` turns the one ``Config`` into the phase's optimiser settings; the prompt variant
(``head`` / ``seed``) is a Config field, so it is in every result row's resolved config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from methods._api import Batch, load_state_strict, read_checkpoint
from methods._sam1 import arch
from methods.ultra_refiner import corrupt, losses
from methods.ultra_refiner.model import RefinerOptions, UltraRefiner, build_network

PHASES = ("coarse", "refiner", "joint")  # card.yaml phases, in order
# Parameters each phase leaves frozen (methods-spec 6.2, 6.5, 6.6: SAM's image encoder always).
FROZEN = {"coarse": ("sam.",), "refiner": ("coarse.", "sam.image_encoder."),
          "joint": ("sam.image_encoder.",)}


@dataclass
class Config:
    """Defaults from the UltraRefiner repository (methods-spec Part 6) unless named otherwise."""

    variant: str = "base"  # base: R50-ViT-B/16 TransUNet + SAM `backbone`; tiny: ours (card)
    backbone: str = "vit_b"  # finetune_sam.py: sam_model_registry["vit_b"]
    phase: str = "joint"  # which phase this run trains or predicts (the grid sets it per rule)
    frozen: tuple[str, ...] = ()  # set per phase by phase_config (FROZEN)
    optimizer: str = "sgd"  # set per phase by phase_config
    lr: float = 0.01  # set per phase by phase_config
    weight_decay: float = 1e-4  # set per phase by phase_config
    max_steps: int = 0  # set per phase by phase_config
    batch_size: int = 8  # set per phase by phase_config
    image_size: int = 224  # train_transunet.py: img_size 224 (training batches)
    coarse_size: int | None = None  # TransUNet input; None: image_size (224, train_transunet.py)
    sam_size: int | None = None  # SAM input; None: 1024 (build_sam.py), image_size for tiny
    weights: str | None = None  # SAM file of the card's registry, or None (random init)
    weights_sha256: str | None = None  # None: take it from card.yaml's registry
    sam_input: str | None = None  # None: the registry entry's sam_input (card), else "sam"
    # TransUNet's encoder: train_transunet.py starts from ImageNet-21k R50+ViT-B/16 (methods-spec
    # 6.2); card registry entry transunet_r50_vit_b16_in21k; None: random init (CPU runs)
    encoder_weights: str | None = None
    encoder_weights_sha256: str | None = None  # None: take it from card.yaml's registry
    # Differentiable prompts (sam_refiner.py, methods-spec 6.3)
    prompt_variant: str = "head"  # "head" (244b518) or "seed" (728ec68 README)
    box_k: float = 2.5  # HEAD: box = centroid +- 2.5 * std
    box_margin: float = 5.0  # HEAD: 5 px margin
    mask_style: str = "gaussian"  # DifferentiableSAMRefiner default; or "direct"
    tau: float = 0.1  # soft selection temperature
    # Phase 1 (train_transunet.py)
    coarse_steps: int = 20000  # 150 epochs of batch 24 on ~3,200 images (methods-spec 6.2)
    coarse_lr: float = 0.01  # SGD lr 0.01, momentum 0.9 (harness), wd 1e-4
    coarse_batch: int = 24  # batch 24
    # Phase 2 (finetune_sam.py)
    refiner_steps: int = 80000  # 100 epochs of batch 4
    refiner_lr: float = 1e-4  # AdamW 1e-4, wd 0.01, cosine to 1e-6
    refiner_batch: int = 4
    # Share of Phase-2 samples refined from the out-of-fold Phase-1 mask (the rest: simulated from
    # the reference). finetune_sam_hybrid.py (the later practice, methods-spec 6.5): 50 % / 50 %.
    # 0 trains on simulated masks only (seed finetune_sam.py) and needs no out-of-fold jobs.
    oof_ratio: float = 0.5
    # Phase 3 (train_e2e.py, seed README)
    joint_steps: int = 40000  # 100 epochs of batch 8
    joint_lr_coarse: float = 1e-4  # README: TransUNet lr 1e-4
    joint_lr_sam: float = 1e-5  # README: SAM lr 1e-5
    joint_batch: int = 8
    w_coarse: float = 0.3  # README: 0.3 / 0.7 (code default 0.5 / 0.5)
    w_refined: float = 0.7
    # set per phase: 1e-6 for the AdamW phases, the same floor for every parameter group
    # (finetune_sam.py and train_e2e.py: CosineAnnealingLR(T_max=epochs, eta_min=1e-6);
    # methods-spec 6.5, 6.6); 0 for Phase 1 (poly decay to 0)
    min_lr: float = 0.0
    schedule: str = "cosine"  # set per phase: poly for Phase 1
    grad_clip: float | None = None  # set per phase: 1.0 in Phase 3 (train_e2e.py)


def sizes(cfg: Config) -> tuple[int, int]:
    """TransUNet and SAM input sizes (``None`` fields resolved)."""
    coarse = cfg.coarse_size or cfg.image_size
    return coarse, cfg.sam_size or (cfg.image_size if cfg.variant == "tiny" else 1024)


def phase_config(cfg: Config) -> Config:
    """The optimiser settings, frozen prefixes and budget of ``cfg.phase``."""
    if cfg.phase not in PHASES:
        raise ValueError(f"method.phase={cfg.phase!r}: use one of {PHASES}")
    common = {"frozen": FROZEN[cfg.phase]}
    if cfg.phase == "coarse":
        return dataclasses.replace(cfg, **common, optimizer="sgd", lr=cfg.coarse_lr,
                                   weight_decay=1e-4, max_steps=cfg.coarse_steps,
                                   batch_size=cfg.coarse_batch, schedule="poly", min_lr=0.0)
    if cfg.phase == "refiner":
        return dataclasses.replace(cfg, **common, optimizer="adamw", lr=cfg.refiner_lr,
                                   weight_decay=0.01, max_steps=cfg.refiner_steps,
                                   batch_size=cfg.refiner_batch, min_lr=1e-6)
    return dataclasses.replace(cfg, **common, optimizer="adamw", lr=cfg.joint_lr_coarse,
                               weight_decay=0.01, max_steps=cfg.joint_steps,
                               batch_size=cfg.joint_batch, min_lr=1e-6, grad_clip=1.0)


def sam_input(cfg: Config) -> str:
    """The input convention of the SAM file in use: the card's ``sam_input`` for it, else SAM's."""
    if cfg.sam_input:
        return cfg.sam_input
    card = yaml.safe_load((Path(__file__).parent / "card.yaml").read_text())
    for entry in card["weights"].values():
        if cfg.weights and Path(cfg.weights).name == entry["file"]:
            return entry["sam_input"]
    return "sam"


def build(cfg: Config, weights_path: Path | None) -> nn.Module:
    """The whole network on the CPU; a SAM ``.pth`` is loaded strictly into ``sam``."""
    options = RefinerOptions(cfg.prompt_variant, cfg.box_k, cfg.box_margin,
                             cfg.mask_style == "gaussian", cfg.tau, sam_input(cfg))
    model = build_network(cfg.variant, cfg.backbone, *sizes(cfg), options)
    if weights_path is not None:
        arch.load_checkpoint(model.sam, weights_path)
    return model


def load_encoder(model: UltraRefiner, path: Path) -> None:
    """timm's ``vit_base_r50_s16_224.orig_in21k`` weights, strictly into TransUNet's encoder.

    The encoder is that timm model itself (``num_classes=0``, no head), so the file's keys are
    its keys without any mapping; a file of the wrong model (or the tiny variant) is refused.
    """
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
    else:
        state = read_checkpoint(path)
    load_state_strict(model.coarse.encoder, state, str(path))


# Pretrained parts beside the SAM file (methods/_api.py): loaded by the train stage in Phase 1.
EXTRA_WEIGHTS = {"encoder_weights": load_encoder}


def param_groups(model: UltraRefiner, cfg: Config) -> list[dict]:
    """Phase 3: TransUNet and SAM at their own learning rates; else one group."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if cfg.phase != "joint":
        return [{"params": [p for _, p in trainable]}]
    return [{"params": [p for n, p in trainable if n.startswith("coarse.")],
             "lr": cfg.joint_lr_coarse},
            {"params": [p for n, p in trainable if n.startswith("sam.")], "lr": cfg.joint_lr_sam}]


def _target(mask: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(mask.float(), size=(size, size), mode="nearest")


def train_step(model: UltraRefiner, batch: Batch, cfg: Config) -> dict[str, torch.Tensor]:
    """The loss of ``cfg.phase`` on one batch."""
    image, mask = batch["image"], batch["mask"]
    coarse_size, sam_size = sizes(cfg)
    if cfg.phase == "coarse":
        target = _target(mask, coarse_size)[:, 0].long()
        return {"loss": losses.transunet_loss(model.coarse_logits(image), target)}
    target = _target(mask, sam_size)
    if cfg.phase == "refiner":
        gen = torch.Generator().manual_seed(int(torch.randint(2 ** 62, ())))  # from the run seed
        prob, from_oof = coarse_inputs(batch, cfg, gen, sam_size)
        masks, iou = model.refine(model.embed(image), prob)
        return losses.refiner_loss(masks, iou, target) | {"oof_share": from_oof.float().mean()}
    out = model(image)
    coarse = losses.transunet_loss(out["coarse"], _target(mask, coarse_size)[:, 0].long())
    refined = losses.bce_dice(out["refined"], target)
    return {"loss": cfg.w_coarse * coarse + cfg.w_refined * refined,
            "coarse_loss": coarse.detach(), "refined_loss": refined.detach()}


def coarse_inputs(batch: Batch, cfg: Config, gen: torch.Generator, size: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Phase 2's soft coarse masks ``[B, size, size]`` (default: the batch size), and which of
    them are the out-of-fold Phase-1 predictions (each with probability ``cfg.oof_ratio``; else
    simulated). Simulation runs on the reference brought to ``size`` (nearest): SAM's 1024 frame,
    where the reference simulates, so erosion, blur and noise keep their size relative to the
    lesion; out-of-fold masks are brought there bilinearly."""
    size = size or batch["mask"].shape[-1]
    mask = F.interpolate(batch["mask"].float(), size=(size, size), mode="nearest")
    from_oof = torch.rand(len(mask), generator=gen) < cfg.oof_ratio
    if from_oof.any() and "coarse" not in batch:
        raise ValueError(f"method.oof_ratio={cfg.oof_ratio} needs out-of-fold Phase-1 masks in "
                         "the batches (`cli train --coarse-masks <half0.npz> <half1.npz>`, as the "
                         "grid's predict_oof jobs give); method.oof_ratio=0 trains on simulated "
                         "masks only")
    simulated = [corrupt.simulate(m[0], gen) for m in mask.cpu()]
    coarse = batch.get("coarse")
    if coarse is not None:
        coarse = F.interpolate(coarse.float(), size=(size, size), mode="bilinear",
                               align_corners=False)
    chosen = [coarse[i, 0].cpu() if use else sim
              for i, (use, sim) in enumerate(zip(from_oof.tolist(), simulated, strict=True))]
    return torch.stack(chosen).to(mask.device), from_oof.to(mask.device)


def training_frame(image: torch.Tensor, cfg: Config) -> torch.Tensor:
    """An original-size image ``[B, 3, H, W]`` as the training batches show it: squashed to
    ``image_size`` x ``image_size`` by an antialiased bilinear resize, the harness's training
    resize (``benchmarks.data.batches.resized``; a test holds the two equal). From this frame
    TransUNet and SAM get their inputs exactly as in training (``model.inputs``): SAM sees the
    224 image upsampled to 1024, as the reference (methods-spec 6.4), never a sharper one."""
    size = (cfg.image_size, cfg.image_size)
    if tuple(image.shape[-2:]) == size:
        return image.float()
    return F.interpolate(image.float(), size=size, mode="bilinear", align_corners=False,
                         antialias=True)


def predict(model: UltraRefiner, batch: Batch, cfg: Config) -> torch.Tensor:
    """Phase ``coarse``: TransUNet's foreground softmax; later phases: sigmoid of the refined
    logits; computed on the training frame, then bilinear to the batch's image size."""
    size = batch["image"].shape[-2:]
    image = training_frame(batch["image"], cfg)
    if cfg.phase == "coarse":
        prob = torch.softmax(model.coarse_logits(image), 1)[:, 1:]
    else:
        prob = torch.sigmoid(model(image)["refined"])
    return F.interpolate(prob, size=size, mode="bilinear", align_corners=False).clamp(0, 1)
