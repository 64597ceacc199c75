"""The harness-owned inference stage: one original-size case at a time, thresholded here.

Every test case gets a row in ``cases.csv`` with a status; a failure is recorded, never dropped.
Out-of-fold runs (``part`` = a training half, :mod:`benchmarks.data.oof`) keep the soft
probabilities (float16) instead and record which model predicted which cases in ``oof.json``.
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from benchmarks.core import registry, weights
from benchmarks.core.io import atomic_path, write_table
from benchmarks.data import batches, oof, patches, volumes
from benchmarks.data.base import DataError, Sample
from benchmarks.data.batches import seed_everything, select_device, to_device
from benchmarks.runs import config
from benchmarks.scoring import interactive as scoring_interactive
from benchmarks.stages import cases, interactive
from methods._api import load_state_strict, read_checkpoint


class PredictionError(RuntimeError):
    """A prediction that breaks the contract (shape, range, NaN)."""


def load_trained(cfg: DictConfig, model_path: Path) -> tuple[Any, Any, Any]:
    """Rebuild the method's model and load the trained state strictly (not the pretrained file)."""
    method_id = config.method_id(cfg)
    module = registry.import_method(method_id)
    mcfg = config.method_cfg(cfg)
    ckpt = read_checkpoint(model_path)
    if "state_dict" not in ckpt:  # zero-shot with a pretrained file: model.pt names its checksum
        path, sha = weights.resolve(method_id, mcfg, cfg.paths.checkpoints)
        if sha != ckpt["weights_sha256"]:
            raise weights.WeightsFileError(
                f"{path} has sha256 {sha}, but {model_path} was made with "
                f"{ckpt['weights_sha256']}: rerun the train stage for this cell")
        return module, mcfg, module.build(mcfg, path).eval()
    model = module.build(mcfg, None)
    load_state_strict(model, ckpt["state_dict"], str(model_path))
    return module, mcfg, model.eval()


def check_probabilities(prob: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    """Validate ``[1, 1, H, W]`` probabilities and return them as a numpy array."""
    if tuple(prob.shape) != (1, 1, *shape):
        raise PredictionError(f"predict returned shape {tuple(prob.shape)}, "
                              f"expected (1, 1, {shape})")
    arr = prob[0, 0].detach().float().cpu().numpy()
    if not np.isfinite(arr).all():
        raise PredictionError("predict returned NaN or inf")
    if arr.min() < 0 or arr.max() > 1:
        raise PredictionError(f"predict returned values in [{arr.min()}, {arr.max()}], not [0, 1]")
    return arr


def predict_image(module: Any, model: Any, mcfg: Any, data: cases.RunData, sample: Sample,
                  device: torch.device, threshold: float | None) -> np.ndarray:
    """The thresholded binary prediction of one 2D image or slice (with its pinned prompt);
    ``threshold=None``: the probabilities as float16."""
    batch = batches.original_batch(sample, data.sample_prompt(sample), data.protocol)
    with torch.no_grad():
        prob = module.predict(model, to_device(batch, device), mcfg)
    return thresholded(check_probabilities(prob, sample.mask.shape), threshold)


def thresholded(prob: np.ndarray, threshold: float | None) -> np.ndarray:
    """The binary mask ``prob > threshold`` (strictly: a probability of exactly 0.5 is background,
    methods-spec Part 9 and results/README.md "Metric conventions"), or with ``threshold=None``
    (out-of-fold runs) the float16 probabilities."""
    return prob.astype(np.float16) if threshold is None else prob > threshold


def predict_case(module: Any, model: Any, mcfg: Any, data: cases.RunData, case_id: str,
                 device: torch.device, threshold: float | None, patched: bool = False
                 ) -> np.ndarray:
    """The binary prediction of one case; a volume is predicted slice by slice (windowed as in
    training) and stacked back to its original shape (spacing untouched: nothing resampled), or
    for a patch method (``patched``) by sliding windows (:mod:`benchmarks.data.patches`)."""
    if patched:
        prob = patches.predict_case(module, model, mcfg, data, case_id, device)
        shape = prob.shape  # original volume shape, checked against the reference by evaluate
        return thresholded(check_probabilities(torch.from_numpy(prob)[None, None], shape),
                           threshold)
    sample = data.load(case_id)
    if not data.is_volume:
        return predict_image(module, model, mcfg, data, sample, device, threshold)
    volume_u8 = volumes.to_uint8(sample.image, volumes.window_of(data.dcfg, mcfg))
    depth = sample.mask.shape[volumes.SLICE_AXIS]
    return volumes.stack([predict_image(module, model, mcfg, data,
                                        volumes.slice_sample(volume_u8, sample, z), device,
                                        threshold) for z in range(depth)], sample.mask.shape)


def oof_record(data: cases.RunData, fold: int, model_path: Path, part: str) -> dict[str, Any]:
    """The ``oof.json`` of predicting training ``part`` with ``model_path`` (refused when that
    model was trained on any of those cases; its ``provenance.json`` names its part)."""
    prov = json.loads(model_path.with_name("provenance.json").read_text())
    if prov["split_sha256"] != data.split_sha256:
        raise oof.OOFError(f"{model_path} was trained on another split than this run's")
    train_part = prov.get("train_part") or "train"
    return oof.describe(weights.sha256_file(model_path), train_part,
                        data.case_ids(fold, train_part), part, data.case_ids(fold, part),
                        data.split_sha256)


def write_rounds(out_dir: Path, rounds: dict[str, np.ndarray], logs: list[dict]) -> None:
    """``rounds.npz`` (one mask per case and round) and ``clicks.csv`` (one row per case and
    round: the click, its label, and the round's times) of an interactive run."""
    with atomic_path(out_dir / "rounds.npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **rounds)
    write_table(out_dir / "clicks.csv", pd.DataFrame(logs, columns=interactive.ROUND_COLUMNS))


def run(cfg: DictConfig, model_path: Path, out_dir: Path, part: str = "test") -> pd.DataFrame:
    """Predict every case of ``part`` (the test fold, or a training half for out-of-fold masks,
    kept soft); write ``predictions.npz`` and ``cases.csv`` (status per case)."""
    seed_everything(cfg.seed)
    module, mcfg, model = load_trained(cfg, model_path)
    device = select_device(cfg.device)
    model.to(device)
    data = cases.open_run(cfg)
    patched = cases.uses_patches(cfg, data)
    record = None if part == "test" else oof_record(data, cfg.fold, model_path, part)
    threshold = cfg.eval.threshold if record is None else None
    clicking = bool(data.protocol and data.protocol.clicks)  # box<J>clicks<N>: stages.interactive
    if clicking:
        interactive.check_module(module, config.method_id(cfg))
    masks, rows, rounds, logs = {}, [], {}, []
    for case_id in data.case_ids(cfg.fold, part):
        start, status, message = time.perf_counter(), "ok", ""
        try:
            if clicking:
                case_rounds, case_logs = interactive.predict_case(
                    module, model, mcfg, data, case_id, device, threshold, check_probabilities)
                masks[case_id] = case_rounds[-1]
                rounds |= {scoring_interactive.round_key(case_id, k): m
                           for k, m in enumerate(case_rounds)}
                logs += case_logs
            else:
                masks[case_id] = predict_case(module, model, mcfg, data, case_id, device,
                                              threshold, patched)
            message = data.prompt_note(case_id, masks[case_id].shape[-1])
        except DataError as err:
            status, message = "bad_input", str(err)
        except PredictionError as err:
            status, message = "invalid_prediction", str(err)
        except Exception as err:  # noqa: BLE001 - any method crash is a recorded per-case failure
            status, message = "failed", f"{type(err).__name__}: {err}"
            traceback.print_exc()
        rows.append({"case_id": case_id, "status": status, "message": message,
                     "seconds": round(time.perf_counter() - start, 4)})
    with atomic_path(out_dir / "predictions.npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **masks)
    table = pd.DataFrame(rows, columns=["case_id", "status", "message", "seconds"])
    if clicking:  # every round's mask and click, scored round by round by evaluate
        write_rounds(out_dir, rounds, logs)
    write_table(out_dir / "cases.csv", table)
    if record is not None:
        oof.write(out_dir, record)
    return table
