"""Score predictions from disk against references, strictly (style guide B9.4).

Every test case of the split gets one row. A missing, failed or invalid prediction scores the worst
values and keeps its status; a case whose own files are unreadable is recorded as ``bad_input``
with no scores (a data problem, counted and shown, not charged to the method).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from benchmarks import cases, config, metrics
from benchmarks.data.base import DataError
from benchmarks.io import read_table, write_table

METRICS = (*metrics.OVERLAP, *metrics.DISTANCES, "nsd")


def _prediction_status(pred_dir: Path) -> tuple[dict[str, np.ndarray], dict[str, dict[str, str]]]:
    with np.load(pred_dir / "predictions.npz") as npz:
        masks = {k: npz[k] for k in npz.files}
    table = read_table(pred_dir / "cases.csv").fillna("")
    return masks, {r.case_id: {"status": r.status, "message": r.message}
                   for r in table.itertuples()}


def score_case(sample: Any, pred: np.ndarray | None, status: str, ecfg: Any) -> dict[str, Any]:
    """Metrics of one case under the recorded protocol; worst values unless status is ok."""
    spacing = sample.spacing_mm
    if pred is None or status != "ok":
        return {**metrics.worst_metrics(sample.mask.shape, spacing),
                "status": status if status != "ok" else "missing"}
    if pred.shape != sample.mask.shape:
        return {**metrics.worst_metrics(sample.mask.shape, spacing), "status": "invalid_prediction",
                "message": f"prediction shape {pred.shape} != reference {sample.mask.shape}"}
    values = metrics.case_metrics(pred, sample.mask, spacing, ecfg.hd95, ecfg.empty_one,
                                  ecfg.nsd_tolerance)
    return {**values, "status": "ok"}


def _row(case_id: str, data: cases.RunData, masks: dict, status: dict, ecfg: Any) -> dict:
    recorded = status.get(case_id, {"status": "missing", "message": "no row in cases.csv"})
    try:
        sample = data.load(case_id)
    except DataError as err:
        return {"case_id": case_id, "status": "bad_input", "message": str(err),
                **dict.fromkeys(METRICS, np.nan)}
    row = {"case_id": case_id, "subset": sample.subset, "message": recorded["message"],
           "empty_ref": not sample.mask.any(),
           "empty_pred": bool(case_id in masks and not masks[case_id].any()),
           "distance_unit": "px" if sample.spacing_mm is None else "mm"}
    return row | score_case(sample, masks.get(case_id), recorded["status"], ecfg)


def run(cfg: DictConfig, pred_dir: Path, provenance: dict[str, Any], out: Path) -> pd.DataFrame:
    """Write the per-case metrics table of one cell to ``out``."""
    data = cases.open_run(cfg)
    masks, status = _prediction_status(pred_dir)
    rows = [_row(cid, data, masks, status, cfg.eval) for cid in data.case_ids(cfg.fold, "test")]
    table = pd.DataFrame(rows)
    identity = {
        "dataset": cfg.dataset_id, "method": config.method_id(cfg),
        "backbone": cfg.method.backbone, "prompt": cfg.prompt, "variant": cfg.method.variant,
        "fold": cfg.fold, "seed": cfg.seed,
        "weights": provenance.get("weights", "unknown"),
        "split_sha256": data.split_sha256, "prompts_sha256": data.prompts_sha256 or "",
        "hd95_definition": cfg.eval.hd95, "empty_policy": metrics.empty_policy(cfg.eval.empty_one),
        "nsd_tolerance": cfg.eval.nsd_tolerance,
        "threshold": cfg.eval.threshold,
    }
    table = pd.concat([pd.DataFrame([identity] * len(table)), table], axis=1)
    write_table(out, table)
    return table
