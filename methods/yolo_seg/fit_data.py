"""Hand the harness's training split to ultralytics: its dataset layout, arguments and log."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from PIL import Image

MIN_CONTOUR_AREA = 5.0  # px; methods-spec 4.2: the seeds drop smaller contours
OPTIMIZERS = {"auto": "auto", "sgd": "SGD", "adamw": "AdamW"}  # Config.optimizer -> ultralytics


def polygons(mask: np.ndarray) -> list[np.ndarray]:
    """External contours of a binary mask as normalised (x, y) polygons (YOLO label format)."""
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    h, w = mask.shape
    keep = [c[:, 0, :] for c in contours if cv2.contourArea(c) >= MIN_CONTOUR_AREA and len(c) >= 3]
    return [c.astype(np.float64) / [w, h] for c in keep]


def write_dataset(samples: Iterable[Any], root: Path) -> Path:
    """Write ``images/train``, ``labels/train`` and ``data.yaml``; return the yaml path.

    ``root`` is emptied first: ultralytics trains on every image in the folder, so images left by
    an earlier run with another split (today's test cases) would leak into training.
    Lesion-free images get an empty label file (ultralytics treats them as background).
    The validation entry points at the training images: the harness never selects checkpoints
    on held-out data, and the test fold must stay unseen.
    """
    shutil.rmtree(root, ignore_errors=True)
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    for sample in samples:
        Image.fromarray(sample.image).save(root / "images" / "train" / f"{sample.case_id}.png")
        lines = ["0 " + " ".join(f"{v:.6f}" for v in poly.ravel())
                 for poly in polygons(sample.mask)]
        (root / "labels" / "train" / f"{sample.case_id}.txt").write_text("\n".join(lines))
    spec = {"path": str(root.resolve()), "train": "images/train", "val": "images/train",
            "names": {0: "lesion"}}
    (root / "data.yaml").write_text(yaml.safe_dump(spec))
    return root / "data.yaml"


def trainer_args(cfg: Any, budget: Any, data_yaml: Path, work: Path, seed: int) -> dict[str, Any]:
    """ultralytics overrides: the harness's budget, seed and device; no plots, no downloads."""
    import torch

    no_aug = {} if cfg.augment else {"mosaic": 0.0, "hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0,
                                       "translate": 0.0, "scale": 0.0, "fliplr": 0.5}
    return {
        "model": f"{cfg.arch}{cfg.backbone}-seg.yaml", "data": str(data_yaml), "task": "segment",
        "epochs": budget.max_epochs, "imgsz": cfg.image_size, "batch": cfg.batch_size,
        "optimizer": OPTIMIZERS[cfg.optimizer], "lr0": cfg.lr, "weight_decay": cfg.weight_decay,
        "freeze": [p.removeprefix("model.").rstrip(".") for p in cfg.frozen] or None,
        "device": "0" if torch.cuda.is_available() else "cpu", "workers": 0,
        "seed": seed, "deterministic": True, "amp": torch.cuda.is_available(),
        "plots": False, "val": False, "pretrained": False, "overlap_mask": False,
        "project": str(work.resolve()), "name": "train", "exist_ok": True, "verbose": False,
        **no_aug,
    }


def read_log(path: Path) -> pd.DataFrame:
    """ultralytics' per-epoch results.csv, with the total training loss as ``loss``."""
    log = pd.read_csv(path)
    log.columns = [c.strip() for c in log.columns]
    losses = [c for c in log.columns if c.startswith("train/")]
    return log.assign(loss=log[losses].sum(axis=1))
