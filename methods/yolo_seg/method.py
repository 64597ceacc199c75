"""YOLO instance segmentation (ultralytics), built from its yaml; n/s/m/l scales are backbones.

Training goes through ``fit``: ultralytics' trainer (mosaic and HSV augmentation, warm-up, EMA,
its own schedule) cannot be split into harness steps without changing the method, so the harness
hands it the training split and a budget in epochs and records both. ``train_step`` exists for the
contract tests and uses the same ultralytics loss. Instance masks are merged into one per image.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi
from torch import nn

from methods._api import Batch, Budget, TrainData, load_state_strict, read_checkpoint
from methods.yolo_seg import fit_data

VARIANTS = {"base": 1.0, "tiny": 0.5}  # width multiplier on top of the scale's own (CPU tests)
_WRAPPERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class Config:
    """Defaults are ultralytics' own (ultralytics/cfg/default.yaml@8.4.190) unless noted."""

    variant: str = "base"  # "tiny" halves the channel widths
    backbone: str = "l"  # methods-spec 4.2: the seeds used yolo11l-seg
    arch: str = "yolo11"  # model family yaml: yolo11{scale}-seg.yaml (also "yolov8")
    frozen: tuple[str, ...] = ()  # prefixes "model.<layer>." (ultralytics `freeze`)
    # ultralytics optimizer=auto (default.yaml): over 10k iterations MuSGD at lr 0.01, else AdamW
    # at lr 0.002 * 5 / (4 + nc) (0.002 for one class), ignoring lr; fit records its choice in
    # train_log.csv (optimizer, lr0). "sgd" / "adamw" force one (the demo's short CPU runs do).
    optimizer: str = "auto"
    lr: float = 0.01  # ultralytics lr0 (used when optimizer is not "auto")
    weight_decay: float = 5e-4  # ultralytics weight_decay
    max_steps: int = 0  # unused: fit's budget is max_epochs
    max_epochs: int = 100  # methods-spec 4.2 (100 epochs)
    batch_size: int = 16  # ultralytics batch
    image_size: int = 640  # ultralytics imgsz (the seeds used 359, rounded to 384)
    weights: str | None = None  # ultralytics *-seg.pt under paths.checkpoints, or None
    weights_sha256: str | None = None  # None: take it from card.yaml's registry
    conf: float = 0.25  # ultralytics predict confidence threshold
    augment: bool = True  # ultralytics default augmentation; False for tiny smoke runs


def _model_yaml(cfg: Config) -> dict:
    from ultralytics.nn.tasks import yaml_model_load

    if cfg.variant not in VARIANTS:
        raise ValueError(f"method.variant={cfg.variant!r}: use one of {sorted(VARIANTS)}")
    spec = yaml_model_load(f"{cfg.arch}{cfg.backbone}-seg.yaml")
    depth, width, max_ch = spec["scales"][cfg.backbone]
    spec["scales"] = {cfg.backbone: [depth, width * VARIANTS[cfg.variant], max_ch]}
    return spec


def build(cfg: Config, weights_path: Path | None) -> nn.Module:
    """A one-class ``SegmentationModel``; pretrained files load strictly except the class head."""
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import SegmentationModel

    model = SegmentationModel(_model_yaml(cfg), ch=3, nc=1, verbose=False)
    model.args = get_cfg(overrides={"overlap_mask": False})  # loss gains; one mask per instance
    if weights_path is not None:
        # ultralytics checkpoints pickle the whole module; the file's sha256 was checked first.
        ckpt = read_checkpoint(weights_path, allow_pickle=True)
        head = f"model.{len(model.model) - 1}.cv3."  # class logits: 80 COCO classes vs our 1
        load_state_strict(model, ckpt["model"].float().state_dict(), str(weights_path), [head])
    return model


def _instances(mask: np.ndarray) -> tuple[list[list[float]], list[np.ndarray]]:
    """Normalised xywh boxes and binary masks of the connected components of one mask."""
    labels, _ = ndi.label(mask)
    h, w = mask.shape
    boxes, masks = [], []
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        boxes.append([(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h])
        masks.append(labels == i)
    return boxes, masks


def _ultra_batch(batch: Batch) -> dict[str, torch.Tensor]:
    """Our batch -> ultralytics' segmentation batch (one instance per connected component)."""
    idx, boxes, masks = [], [], []
    for b, mask in enumerate(batch["mask"][:, 0].cpu().numpy().astype(bool)):
        bxs, mks = _instances(mask)
        idx += [b] * len(bxs)
        boxes += bxs
        masks += mks
    size = batch["image"].shape[-2:]
    return {
        "img": batch["image"],
        "batch_idx": torch.tensor(idx, dtype=torch.float32),
        "cls": torch.zeros(len(idx), 1),
        "bboxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "masks": torch.from_numpy(np.stack(masks)) if masks else torch.zeros(0, *size),
    }


def train_step(model: nn.Module, batch: Batch, cfg: Config) -> dict[str, torch.Tensor]:
    """ultralytics' v8 segmentation loss (box, seg, cls, dfl), averaged over the batch."""
    loss, items = model.loss(_ultra_batch(batch))
    out = {"loss": loss.sum() / batch["image"].shape[0]}
    return out | {k: v.detach() for k, v in items.items()}


def _wrapper(model: nn.Module, cfg: Config):
    """An ultralytics ``YOLO`` object around ``model`` (its predictor does letterbox and NMS)."""
    from ultralytics import YOLO

    if model not in _WRAPPERS:
        wrapper = YOLO(f"{cfg.arch}{cfg.backbone}-seg.yaml", task="segment", verbose=False)
        wrapper.model = model
        _WRAPPERS[model] = wrapper
    return _WRAPPERS[model]


@contextmanager
def job_threads() -> Iterator[None]:
    """Keep torch's thread count the job's: ultralytics' ``select_device`` sets it to
    ``min(8, cpu_count - 1)`` of the whole node (1 on a 2-core machine, 8 on a 64-core node
    whatever Slurm allocated), which changed the results and timings of every later call."""
    from ultralytics.utils import torch_utils

    threads, default = torch.get_num_threads(), torch_utils.NUM_THREADS
    torch_utils.NUM_THREADS = threads
    try:
        yield
    finally:
        torch_utils.NUM_THREADS = default
        torch.set_num_threads(threads)


def predict(model: nn.Module, batch: Batch, cfg: Config) -> torch.Tensor:
    """Union of the predicted instance masks at original size (ultralytics binarises them)."""
    with job_threads():
        return _predict(model, batch, cfg)


def _predict(model: nn.Module, batch: Batch, cfg: Config) -> torch.Tensor:
    device = batch["image"].device
    out = []
    for image in batch["image"]:
        rgb = (image.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        result = _wrapper(model, cfg).predict(
            rgb[..., ::-1].copy(), imgsz=cfg.image_size, conf=cfg.conf, retina_masks=True,
            device=device.type if device.type == "cpu" else device.index, verbose=False)[0]
        h, w = rgb.shape[:2]
        masks = result.masks.data.float() if result.masks is not None else torch.zeros(0, h, w)
        out.append(masks.amax(0, keepdim=True) if len(masks) else torch.zeros(1, h, w))
    return torch.stack(out).to(device).clamp(0, 1)


def fit(model: nn.Module, data: TrainData, cfg: Config, budget: Budget):
    """Train with ultralytics' own trainer for ``budget.max_epochs``; return its EMA model."""
    from ultralytics.models.yolo.segment import SegmentationTrainer

    data_yaml = fit_data.write_dataset(data.samples, data.work_dir / "dataset")
    args = fit_data.trainer_args(cfg, budget, data_yaml, data.work_dir, data.seed)
    with job_threads():  # the trainer's __init__ calls select_device
        trainer = SegmentationTrainer(overrides=args)
        trainer.model = model  # our model (random init or strictly loaded weights), not a new one
        trainer.train()
    trained = trainer.ema.ema.float() if trainer.ema else trainer.model
    log = fit_data.read_log(data.work_dir / "train" / "results.csv")
    # what ultralytics ran with: with optimizer=auto its own choice of optimiser and lr0
    return trained, log.assign(optimizer=trainer.args.optimizer, lr0=trainer.args.lr0)
