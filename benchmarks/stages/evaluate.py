"""Score predictions from disk against references, strictly (style guide B9.4).

Every test case of the split gets one row. A missing, failed or invalid prediction scores the worst
values and keeps its status; a case whose own files are unreadable is recorded as ``bad_input``
with no scores (a data problem, counted and shown, not charged to the method).
"""

from __future__ import annotations

import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from benchmarks.core import registry
from benchmarks.core.io import read_table, write_table
from benchmarks.data.base import DataError
from benchmarks.runs import config
from benchmarks.scoring import interactive, metrics
from benchmarks.stages import cases

METRICS = (*metrics.OVERLAP, *metrics.DISTANCES, "nsd")


class PredictionFileError(ValueError):
    """A predictions file that cannot be read; the message names it and the fix."""


def read_predictions(path: Path) -> dict[str, np.ndarray]:
    """Every mask in ``predictions.npz`` (a truncated or damaged file is named, with the fix)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    # TokenError / SyntaxError: bytes damaged inside a member whose CRC still matched (numpy
    # parses the .npy header before any CRC is checked)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError,
            tokenize.TokenError, SyntaxError) as err:
        raise PredictionFileError(
            f"{path}: cannot read the predictions ({type(err).__name__}: {err}); the file is "
            "truncated or damaged (a predict job killed mid-copy?): delete it and rerun the "
            "predict stage of this cell") from err


def read_cases(path: Path) -> pd.DataFrame:
    """The predict stage's ``cases.csv`` (case_id, status, message); an empty or damaged file is
    named with the fix, as a damaged predictions file is."""
    try:
        table = read_table(path)
        table = table.assign(message=table["message"].astype(object).fillna(""),
                             status=table["status"], case_id=table["case_id"])
    except (pd.errors.ParserError, ValueError, KeyError, OSError, UnicodeDecodeError) as err:
        raise PredictionFileError(
            f"{path}: cannot read the per-case statuses ({type(err).__name__}: {err}); the file "
            "is empty, truncated or damaged: delete it and rerun the predict stage of this "
            "cell") from err
    return table


def invalid_reason(pred: np.ndarray, shape: tuple[int, ...]) -> str | None:
    """Why a stored prediction is not a binary mask of ``shape`` (``None`` when it is one)."""
    if pred.shape != tuple(shape):
        return f"prediction shape {pred.shape} != reference {tuple(shape)}"
    if pred.dtype == bool:
        return None
    if not np.issubdtype(pred.dtype, np.number):
        return f"prediction dtype {pred.dtype} is not boolean or numeric"
    if not np.isfinite(pred).all():
        return f"prediction has {int((~np.isfinite(pred)).sum())} NaN or infinite pixels"
    values = np.unique(pred)
    if not np.isin(values, (0, 1)).all():
        return (f"prediction values {values[:5].tolist()} are not in {{0, 1}} (probabilities or "
                "0/255 images must be thresholded by the predict stage)")
    return None


def _prediction_status(pred_dir: Path) -> tuple[dict[str, np.ndarray], dict[str, dict[str, str]]]:
    masks = read_predictions(pred_dir / "predictions.npz")
    table = read_cases(pred_dir / "cases.csv")
    return masks, {r.case_id: {"status": r.status, "message": r.message}
                   for r in table.itertuples()}


def score_case(sample: Any, pred: np.ndarray | None, status: str, ecfg: Any) -> dict[str, Any]:
    """Metrics of one case under the recorded protocol; worst values unless status is ok."""
    spacing = sample.spacing_mm
    if pred is None or status != "ok":
        return {**metrics.worst_metrics(sample.mask.shape, spacing),
                "status": status if status != "ok" else "missing"}
    reason = invalid_reason(pred, sample.mask.shape)
    if reason is not None:
        return {**metrics.worst_metrics(sample.mask.shape, spacing), "status": "invalid_prediction",
                "message": reason}
    values = metrics.case_metrics(pred.astype(bool), sample.mask, spacing, ecfg.hd95,
                                  ecfg.empty_one, ecfg.nsd_tolerance)
    return {**values, "status": "ok"}


class Rounds:
    """An interactive cell's per-round masks and click log (``predict/rounds.npz``,
    ``predict/clicks.csv``), scored round by round into ``evaluate/rounds.csv``."""

    def __init__(self, pred_dir: Path, n_clicks: int) -> None:
        self.n_clicks = n_clicks
        self.masks = read_predictions(pred_dir / "rounds.npz")
        log = read_table(pred_dir / "clicks.csv")
        self.log = {cid: g.sort_values("round").to_dict("records")
                    for cid, g in log.groupby("case_id", sort=False)}
        self.rows: list[dict[str, Any]] = []

    def score(self, case_id: str, sample: Any, status: str, ecfg: Any) -> dict[str, Any]:
        """The case's wide columns (per-round scores, AUCs); worst values unless it is ok."""
        log = self.log.get(case_id, [])
        keys = [interactive.round_key(case_id, int(r["round"])) for r in log]
        if status != "ok" or len(log) != self.n_clicks + 1 or not all(
                k in self.masks and invalid_reason(self.masks[k], sample.mask.shape) is None
                for k in keys):
            return interactive.worst_columns(self.n_clicks)
        scored = [r | interactive.round_scores(self.masks[k], sample.mask, sample.spacing_mm,
                                               ecfg.nsd_tolerance) for r, k in zip(log, keys,
                                                                                   strict=True)]
        self.rows += scored
        return interactive.wide_columns(scored, self.n_clicks)


def absent_label(sample: Any, label_file: str, named: set[int]) -> None:
    """:class:`DataError` when the label id the task scores is not in this volume's label map
    while the map holds ids that ``named`` (the dataset's label ids) does not know: a relabelled
    file or a wrong ``label_names`` entry, where an empty reference and an empty prediction would
    score Dice 1.0 as ``ok`` (issue 19). An organ merely absent from one case (its label map
    holds only known ids) is scored by the empty policy (methods-spec Part 9 item 5). A 0 label
    (any foreground) is not checked."""
    label = sample.meta.get("label")
    present = sample.meta.get("labels_present")
    unknown = set(present or []) - named - {label}
    # only a loader with a label map in its config (label_names) can tell a wrong id from an
    # organ absent from this case; the others' maps come from dataset.json (check-data reads it)
    if not label or present is None or label in present or not named or not unknown:
        return
    raise DataError(f"{label_file}: label {label} ({sample.subset}) is absent from the label map "
                    f"(labels present: {present}); check dataset.label_names or dataset.label")


def named_labels(dcfg: Any) -> set[int]:
    """The label ids the loader's Config names (``label_names`` values; empty without a map)."""
    return {int(v) for v in dict(getattr(dcfg, "label_names", None) or {}).values()}


def _row(case_id: str, data: cases.RunData, masks: dict, status: dict, ecfg: Any,
         rounds: Rounds | None = None) -> dict:
    recorded = status.get(case_id, {"status": "missing", "message": "no row in cases.csv"})
    try:
        sample = data.load(case_id)
        absent_label(sample, data.refs[case_id].masks[0], named_labels(data.dcfg))
    except DataError as err:
        return {"case_id": case_id, "status": "bad_input", "message": str(err),
                **dict.fromkeys(METRICS, np.nan)}
    row = {"case_id": case_id, "subset": sample.subset, "message": recorded["message"],
           "empty_ref": not sample.mask.any(),
           "empty_pred": bool(case_id in masks and not np.nan_to_num(masks[case_id]).any()),
           "distance_unit": "px" if sample.spacing_mm is None else "mm",
           "label": sample.meta.get("label", "")}  # the label id scored (3D label maps)
    row |= score_case(sample, masks.get(case_id), recorded["status"], ecfg)
    if rounds is not None:
        row |= rounds.score(case_id, sample, row["status"], ecfg)
    return row


def method_fields(cfg: DictConfig) -> dict[str, Any]:
    """Config fields a method's card names under ``result_fields:`` (choices such as a prompt
    variant that every result row must carry)."""
    fields = registry.read_card(config.method_id(cfg)).get("result_fields") or []
    return {name: cfg.method.get(name) for name in fields}


def trained_on(cfg: DictConfig, split: dict[str, Any], provenance: dict[str, Any]) -> str:
    """Which dataset's training folds made the model: this one, or for an external test set the
    ``train_from`` dataset its split names; ``none`` for a zero-shot model (nothing trained)."""
    if provenance.get("trainer") == "none":
        return "none"
    return str(split.get("train_from") or cfg.dataset_id)


def run(cfg: DictConfig, pred_dir: Path, provenance: dict[str, Any], out: Path) -> pd.DataFrame:
    """Write the per-case metrics table of one cell to ``out``."""
    data = cases.open_run(cfg)
    masks, status = _prediction_status(pred_dir)
    clicking = data.protocol is not None and data.protocol.clicks > 0
    rounds = Rounds(pred_dir, data.protocol.clicks) if clicking else None
    rows = [_row(cid, data, masks, status, cfg.eval, rounds)
            for cid in data.case_ids(cfg.fold, "test")]
    table = pd.DataFrame(rows)
    identity = {
        "dataset": cfg.dataset_id, "organ": OmegaConf.select(cfg, "dataset.organ", default=""),
        # an earlier phase of a multi-phase method is its own row: <id>:<phase>
        "method": registry.result_label(config.method_id(cfg), cfg.method.get("phase")),
        "backbone": cfg.method.backbone, "prompt": cfg.prompt, "variant": cfg.method.variant,
        "fold": cfg.fold, "seed": cfg.seed,
        "weights": provenance.get("weights", "unknown"),
        "training": "zero_shot" if provenance.get("trainer") == "none" else "trained",
        "trained_on": trained_on(cfg, data.split, provenance),
        "split_sha256": data.split_sha256, "prompts_sha256": data.prompts_sha256 or "",
        "hd95_definition": cfg.eval.hd95, "empty_policy": metrics.empty_policy(cfg.eval.empty_one),
        "nsd_tolerance": cfg.eval.nsd_tolerance,
        "threshold": cfg.eval.threshold,
        **method_fields(cfg),
    }
    if rounds is not None:
        identity |= {"click_rule": "cvpr25_iter_eval", "auc_rounds_clicks":
                     interactive.AUC_COVERAGE["clicks"], "auc_rounds_all":
                     interactive.AUC_COVERAGE["all"]}
        # one row per case and round beside metrics.csv (undeclared in Snakemake: metrics.csv
        # carries the same scores as columns, which is what the aggregate reads)
        write_table(out.with_name("rounds.csv"), pd.DataFrame(
            [{"dataset": cfg.dataset_id, "method": identity["method"], **r} for r in rounds.rows]))
    table = pd.concat([pd.DataFrame([identity] * len(table)), table], axis=1)
    write_table(out, table)
    return table
