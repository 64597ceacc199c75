"""The harness-owned training stage: seeding, freezing, optimiser, loop, checkpoint, provenance."""

from __future__ import annotations

import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from torch import nn
from tqdm import tqdm

from benchmarks.core import registry, weights
from benchmarks.core.io import atomic_path, write_json, write_table, write_text
from benchmarks.data import batches, oof, patches, splits, volumes
from benchmarks.data.batches import seed_everything, select_device, to_device
from benchmarks.runs import config, provenance
from benchmarks.runs.config import method_cfg, to_yaml
from benchmarks.stages import cases
from methods._api import Budget, TrainData, load_state_strict, read_checkpoint

ZERO_SHOT = "none"  # card ``trainer: none``: a reference row that is evaluated untrained
PROMPT_STREAM = 7  # numpy seed-sequence key of the training prompts (independent of data order)


class TrainingError(RuntimeError):
    """Training that cannot go on (non-finite loss, nothing to train)."""


def freeze(model: nn.Module, prefixes: Any) -> dict[str, int]:
    """Set ``requires_grad=False`` on parameters whose name starts with any prefix.

    Raises:
        TrainingError: when a prefix matches no parameter (a typo would silently train it).
    """
    prefixes = tuple(prefixes or ())
    names = [n for n, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(n.startswith(prefix) for n in names):
            raise TrainingError(f"method.frozen prefix {prefix!r} matches no parameter")
    for name, param in model.named_parameters():
        if name.startswith(prefixes) and prefixes:
            param.requires_grad_(False)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"params_total": total, "params_trainable": trainable}


def make_optimizer(model: nn.Module, module: Any, mcfg: Any) -> torch.optim.Optimizer:
    """AdamW or SGD over trainable parameters (or the method's own parameter groups)."""
    if hasattr(module, "param_groups"):
        groups = module.param_groups(model, mcfg)
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    if not any(g["params"] for g in groups):
        raise TrainingError("no trainable parameters: method.frozen freezes the whole model")
    if mcfg.optimizer == "sgd":  # optional Config.momentum / Config.nesterov (nnU-Net: 0.99, True)
        return torch.optim.SGD(groups, lr=mcfg.lr, momentum=getattr(mcfg, "momentum", 0.9),
                               nesterov=getattr(mcfg, "nesterov", False),
                               weight_decay=mcfg.weight_decay)
    if mcfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=mcfg.lr, weight_decay=mcfg.weight_decay)
    raise TrainingError(f"method.optimizer={mcfg.optimizer!r}: use 'adamw' or 'sgd'")


def _batches(data: cases.RunData, ids: list[str], mcfg: Any, gen: torch.Generator, seed: int,
             coarse: dict[str, Any] | None = None, geometry: str = "squash"):
    """Endless shuffled batches of resized samples (images or volume slices) with random
    horizontal flips; ``coarse``: an out-of-fold soft mask per case id (:mod:`benchmarks.data.oof`),
    resized and flipped with its image into the batch's ``coarse`` field; ``geometry``: the card's
    ``resize:`` (``squash`` or ``letterbox``, :func:`benchmarks.data.batches.resized`)."""
    samples = list(data.training_samples(ids, mcfg, seed))  # 2D images and sampled slices fit
    if len(samples) < mcfg.batch_size:
        raise TrainingError(f"{len(samples)} training samples < method.batch_size="
                            f"{mcfg.batch_size}; lower the batch size or add training data")
    prompt_rng = np.random.default_rng([seed, PROMPT_STREAM])  # fresh prompts, own stream
    while True:
        order = torch.randperm(len(samples), generator=gen).tolist()
        for start in range(0, len(order) - mcfg.batch_size + 1, mcfg.batch_size):
            flips = torch.rand(mcfg.batch_size, generator=gen) < 0.5
            chunk = [batches.resized(samples[i], mcfg.image_size, bool(f),
                                     data.training_prompt(samples[i], prompt_rng), data.protocol,
                                     None if coarse is None else coarse[samples[i].case_id],
                                     geometry)
                     for i, f in zip(order[start:start + mcfg.batch_size], flips, strict=True)]
            yield batches.collate(chunk)


def cosine_factor(mcfg: Any, group_lr: float | None = None):
    """LR factor per step: cosine from ``lr`` to the method's optional ``min_lr`` (default 0);
    ``Config.schedule="poly"`` is TransUNet's (1 - step / steps) ** 0.9 instead.

    ``group_lr``: the start lr of one parameter group (default ``mcfg.lr``). The floor is the
    same absolute ``min_lr`` for every group, as ``CosineAnnealingLR(eta_min=...)`` does, not a
    fraction of each group's lr.
    """
    start = mcfg.lr if group_lr is None else group_lr
    floor = getattr(mcfg, "min_lr", 0.0) / start if start else 0.0
    steps = max(mcfg.max_steps, 1)
    warm = warmup_factor(int(getattr(mcfg, "warmup_steps", 0) or 0))
    if getattr(mcfg, "schedule", "cosine") == "poly":
        return lambda s: warm(s) * (1 - s / steps) ** 0.9
    return lambda s: warm(s) * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * s / steps)))


WARMUP_START = 1e-3  # torchvision references/detection/engine.py: warmup_factor = 1 / 1000


def warmup_factor(warmup_steps: int):
    """Optional ``Config.warmup_steps``: a linear ramp of the lr from ``lr / 1000`` to ``lr`` over
    the first steps (torchvision's detection reference, ``LinearLR(start_factor=0.001)``), on top
    of the schedule; 0 = none."""
    if warmup_steps <= 0:
        return lambda s: 1.0
    return lambda s: WARMUP_START + (1 - WARMUP_START) * min(s, warmup_steps) / warmup_steps


def make_scheduler(opt: torch.optim.Optimizer, mcfg: Any) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step decay of every parameter group from its own lr to the common floor."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, [cosine_factor(mcfg, group["lr"]) for group in opt.param_groups])


def train_loop(model: nn.Module, module: Any, mcfg: Any, batches, device: torch.device
               ) -> pd.DataFrame:
    """Run ``mcfg.max_steps`` optimiser steps with cosine decay; one log row per step."""
    opt = make_optimizer(model, module, mcfg)
    sched = make_scheduler(opt, mcfg)
    rows, start = [], time.perf_counter()
    model.train()
    for step in tqdm(range(mcfg.max_steps), desc="train", file=sys.stderr, mininterval=5):
        out = module.train_step(model, to_device(next(batches), device), mcfg)
        loss = out["loss"]
        if not torch.isfinite(loss):
            raise TrainingError(f"non-finite loss {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if getattr(mcfg, "grad_clip", None):  # optional Config.grad_clip: max gradient norm
            nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]],
                                     mcfg.grad_clip)
        opt.step()
        sched.step()
        rows.append({"step": step, "lr": opt.param_groups[0]["lr"],
                     "seconds": time.perf_counter() - start,
                     **{k: float(v.detach()) for k, v in out.items()}})
    return pd.DataFrame(rows)


def _train(model: nn.Module, module: Any, mcfg: Any, data: cases.RunData, ids: list[str],
           trainer: str, cfg: DictConfig, out_dir: Path, gen: torch.Generator,
           coarse: dict[str, Any] | None = None, geometry: str = "squash"
           ) -> tuple[nn.Module, pd.DataFrame]:
    """Train with the harness loop or the method's own ``fit``."""
    device = select_device(cfg.device)
    model.to(device)
    if trainer == "fit":
        work = out_dir / "fit_work"
        shutil.rmtree(work, ignore_errors=True)  # starts empty: nothing from an earlier run leaks
        budget = Budget(max_steps=mcfg.max_steps, max_epochs=getattr(mcfg, "max_epochs", None))
        samples = data.training_samples(ids, mcfg, cfg.seed)
        return module.fit(model, TrainData(samples, work, cfg.seed), mcfg, budget)
    if coarse is not None and data.is_volume:
        raise TrainingError("out-of-fold coarse masks are per 2D image; 3D data is not supported")
    if cases.uses_patches(cfg, data):  # 3D patches of the training volumes
        stream = patches.training_batches(patches.training_volumes(data, ids, mcfg), mcfg,
                                          float(data.dcfg.train_fg_fraction), cfg.seed)
    else:
        stream = _batches(data, ids, mcfg, gen, cfg.seed, coarse, geometry)
    return model, train_loop(model, module, mcfg, stream, device)


def _model_payload(model: nn.Module, method_id: str, zero_shot: bool, weights_path: Path | None,
                   weights_id: str) -> dict[str, Any]:
    """What ``model.pt`` holds: the trained state, or for a zero-shot run with a pretrained file
    only that file's checksum (predict re-verifies and loads it; no multi-GB copy per cell)."""
    if zero_shot and weights_path is not None:
        return {"method": method_id, "zero_shot": True, "weights_sha256": weights_id}
    return {"state_dict": model.state_dict(), "method": method_id, "zero_shot": zero_shot}


def for_phase(module: Any, mcfg: Any) -> Any:
    """A multi-phase method (card ``phases:``) maps ``method.phase`` to that phase's settings."""
    return module.phase_config(mcfg) if hasattr(module, "phase_config") else mcfg


def start_from(model: nn.Module, init: Path | None) -> str | None:
    """A later phase starts from the previous phase's trained state of the same cell (strict)."""
    if init is None:
        return None
    load_state_strict(model, read_checkpoint(init)["state_dict"], str(init))
    return weights.sha256_file(init)


def load_extra_weights(module: Any, mcfg: Any, method_id: str, model: nn.Module,
                       checkpoints: str | Path) -> dict[str, str]:
    """The method's pretrained parts beside ``weights`` (``EXTRA_WEIGHTS`` of methods/_api.py),
    each resolved and checksummed like ``weights`` and loaded into ``model``: field -> sha256
    (``random_init`` where the field is empty)."""
    loaded = {}
    for field, load in getattr(module, "EXTRA_WEIGHTS", {}).items():
        path, sha = weights.resolve(method_id, mcfg, checkpoints, field)
        if path is not None:
            load(model, path)
        loaded[field] = sha
    return loaded


def run(cfg: DictConfig, out_dir: Path, init: Path | None = None, part: str = "train",
        coarse_masks: list[Path] | None = None) -> dict[str, Any]:
    """Train one cell and write ``model.pt``, ``train_log.csv``, config and provenance.

    A zero-shot method (card ``trainer: none``) is not trained: the same four files record the
    untouched model, an empty budget and the card's ``zero_shot_reason``.

    ``init``: the previous phase's ``model.pt`` for phases after the first (multi-phase methods).
    ``part``: the training cases (``train``, or one half for the out-of-fold models of
    :mod:`benchmarks.data.oof`). ``coarse_masks``: ``predictions.npz`` files of out-of-fold runs
    that together cover the training cases; every batch then carries them as ``coarse``.
    """
    gen = seed_everything(cfg.seed)
    method_id = config.method_id(cfg)
    module = registry.import_method(method_id)
    card = registry.read_card(method_id)
    trainer = card.get("trainer", "harness")
    mcfg = for_phase(module, method_cfg(cfg))
    weights_path, weights_id = weights.resolve(method_id, mcfg, cfg.paths.checkpoints)
    data = cases.open_run(cfg)
    if data.split.get("scheme") == splits.EXTERNAL:  # Snakemake never asks; a hand-run might
        raise TrainingError(f"{cfg.split_file}: {cfg.dataset_id} is an external test set "
                            f"(train_from: {data.split['train_from']}); it trains nothing: "
                            f"predict it with the model of the {data.split['train_from']} cell")
    ids = data.case_ids(cfg.fold, part)
    coarse, oof_info = oof.load(coarse_masks, ids, data.split_sha256) if coarse_masks else (
        None, None)
    model = module.build(mcfg, weights_path)
    reinitialised = list(getattr(model, "reinitialised", []))  # heads not taken from the weights
    init_sha256 = start_from(model, init)
    extra_weights = {} if init else load_extra_weights(module, mcfg, method_id, model,
                                                        cfg.paths.checkpoints)
    start = time.perf_counter()
    if trainer == ZERO_SHOT:
        counts = freeze(model, [])  # counts only; nothing is optimised
        counts["params_trainable"] = 0
        reason = str(card.get("zero_shot_reason", ""))
        log = pd.DataFrame([{"steps": 0, "trained": False, "reason": reason}])
        extra = {"zero_shot_reason": reason, "n_train_cases": 0}
    else:
        counts = freeze(model, mcfg.frozen)
        geometry = card.get("resize", "squash")
        model, log = _train(model, module, mcfg, data, ids, trainer, cfg, out_dir, gen, coarse,
                            geometry)
        extra = {"n_train_cases": len(ids), "train_part": part, "train_resize": geometry,
                 "train_prompts": data.training_prompt_note(cfg.seed)}
        if oof_info is not None:  # with the method's mix ratio (UltraRefiner: Config.oof_ratio)
            extra["oof"] = oof_info | {"ratio": getattr(mcfg, "oof_ratio", None)}
    if data.is_volume:
        describe = patches.describe if cases.uses_patches(cfg, data) else volumes.describe
        extra["volumes"] = describe(data.dcfg, mcfg)
    wall = time.perf_counter() - start
    payload = _model_payload(model, method_id, trainer == ZERO_SHOT, weights_path, weights_id)
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save(payload, tmp)
    write_table(out_dir / "train_log.csv", log)
    write_text(out_dir / "config.resolved.yaml", to_yaml(cfg))
    info = provenance.collect(weights=weights_id, weights_file=weights_path and str(weights_path),
                              split_sha256=data.split_sha256,
                              prompt=cfg.prompt, prompts_sha256=data.prompts_sha256,
                              trainer=trainer, train_seconds=round(wall, 2),
                              reinitialised=reinitialised, phase=getattr(mcfg, "phase", None),
                              init_sha256=init_sha256, extra_weights=extra_weights, **extra,
                              **counts)
    write_json(out_dir / "provenance.json", info)
    return info
