"""The throughput stage: one method x backbone x input size, timed apart from the accuracy runs.

What is measured (metric-conventions.md §2.11, style guide B5), all through the method contract
(``build`` + ``predict``, and the optional ``encode``/``decode`` split of ``methods/_api.py``):

- ``latency``: batch-1 ``predict`` after ``warmup`` untimed calls, p50/p90/p99 over ``iters``;
- ``offline``: images per second at batch 1, 2, 4, ... doubled until the batch no longer fits
  (an ``oom`` row, never a silently smaller batch) or the cap ``max_batch`` is reached (recorded
  in ``stop_reason``); the best batch is the largest that fitted;
- ``encoder`` / ``decoder``: for methods with the split hooks, batch-1 image-encoder time and
  prompt-encoder + mask-decoder time on a fixed embedding (what an interactive user waits for per
  click);
- parameters (total, trainable after ``method.frozen``), FLOPs of one batch-1 ``predict``
  (``torch.utils.flop_counter.FlopCounterMode``: 2 per multiply-add; operators without a formula,
  such as NMS or RoIAlign, count 0), peak memory per measurement.

Inputs are synthetic (seeded uniform noise at ``size`` x ``size``, a centred box or click for
prompted methods): timing does not need real images, and the stage runs once, not per dataset.
A 3D patch method (card ``volumes: patches``) is timed on ``[B, 1, X, Y, Z]`` noise of its
``patch_size`` (``size`` x ``size`` x ``size`` when a size is given): one network forward per
window, so ``images_per_s`` counts patches. Every row carries device, dtype, batch, size, the
per-sample ``input_shape`` and provenance.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig

from benchmarks.core import registry, timing, weights
from benchmarks.core.io import write_table
from benchmarks.data.batches import select_device, to_device
from benchmarks.runs import config, provenance
from benchmarks.stages.train import freeze
from methods._api import WeightsError

CPU_MAX_BATCH = 8  # the CPU's memory is never the limit before minutes per call: cap, and say so
CUDA_MAX_BATCH = 1024
DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


def synthetic_batch(prompt_kind: str, batch: int, size: int, device: torch.device,
                    seed: int = 0) -> dict[str, Any]:
    """A contract ``Batch`` of ``batch`` noise images ``[B, 3, size, size]`` with the method's
    prompt kind: a centred box (``box``), one positive centre click (``point``) or none."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, size, size, generator=gen)
    meta = [{"case_id": f"throughput_{i}", "slice_index": -1, "spacing_mm": None,
             "original_shape": (size, size)} for i in range(batch)]
    out: dict[str, Any] = {"image": image, "meta": meta}
    if prompt_kind == "box":
        box = [size / 4, size / 4, 3 * size / 4, 3 * size / 4]  # xyxy, centred
        out["box"] = torch.tensor([box]).repeat(batch, 1)
    elif prompt_kind == "point":
        out["points"] = torch.full((batch, 1, 2), size / 2)
        out["point_labels"] = torch.ones(batch, 1, dtype=torch.int64)
    return to_device(out, device)


def synthetic_volume_batch(batch: int, patch: tuple[int, ...], device: torch.device,
                           seed: int = 0) -> dict[str, Any]:
    """A 3D contract batch of ``batch`` noise patches ``[B, 1, *patch]`` (already normalised)."""
    gen = torch.Generator().manual_seed(seed)
    meta = [{"case_id": f"throughput_{i}", "slice_index": -1, "spacing_mm": None,
             "original_shape": patch} for i in range(batch)]
    return to_device({"image": torch.rand(batch, 1, *patch, generator=gen), "meta": meta}, device)


def input_shape(cfg: DictConfig, mcfg: Any, card: dict[str, Any]) -> tuple[int, ...]:
    """Per-sample input shape: ``(3, size, size)``, or ``(1, *patch)`` for a patch method."""
    if card.get("volumes") == "patches" and "2d" not in card.get("dims", []):
        patch = [int(cfg.size)] * 3 if cfg.size else [int(p) for p in mcfg.patch_size]
        return (1, *patch)
    size = int(cfg.size or mcfg.image_size)
    return (3, size, size)


def is_oom(err: BaseException) -> bool:
    """CUDA's out-of-memory error (also when raised as a plain RuntimeError) or a host OOM."""
    return isinstance(err, torch.cuda.OutOfMemoryError | MemoryError) or "out of memory" in str(err)


class Session:
    """A built model and what every measurement needs to call it."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.method_id = config.method_id(cfg)
        self.module = registry.import_method(self.method_id)
        self.mcfg = config.method_cfg(cfg)
        self.device = select_device(cfg.device)
        card = registry.read_card(self.method_id)
        self.shape = input_shape(cfg, self.mcfg, card)
        self.size = max(self.shape[1:])  # the square side, or the largest patch edge
        self.prompt = card.get("prompt", "none")
        path, self.weights = weights.resolve(self.method_id, self.mcfg, cfg.paths.checkpoints)
        self.model = self.module.build(self.mcfg, path)
        self.params = freeze(self.model, self.mcfg.frozen)
        self.model.to(self.device).eval()

    def batch(self, n: int) -> dict[str, Any]:
        if len(self.shape) == 4:
            return synthetic_volume_batch(n, self.shape[1:], self.device, self.cfg.seed)
        return synthetic_batch(self.prompt, n, self.size, self.device, self.cfg.seed)

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = DTYPES[self.cfg.dtype]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def call(self, fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
        """``fn(model, *args, mcfg)`` as a no-argument call under no_grad and autocast."""
        def run() -> Any:
            with torch.no_grad(), self.autocast():
                return fn(self.model, *args, self.mcfg)
        return run


def _measure(session: Session, fn: Callable[[], Any], warmup: int, iters: int
             ) -> dict[str, Any]:
    """Timing and peak memory of one callable; an OOM or crash becomes the row's status."""
    timing.reset_peaks(session.device)
    try:
        times = timing.time_calls(fn, warmup, iters, session.device)
    except Exception as err:  # noqa: BLE001 - recorded as the row's status, never dropped
        if session.device.type == "cuda":
            torch.cuda.empty_cache()
        status = "oom" if is_oom(err) else "failed"
        traceback.print_exc()
        return {"status": status, "error": f"{type(err).__name__}: {err}"[:500]}
    return {"status": "ok", "error": "", "n_warmup": warmup, "n_iters": iters,
            **timing.summarize_ms(times), **timing.read_peaks(session.device)}


def latency_rows(session: Session) -> list[dict[str, Any]]:
    """Batch-1 end-to-end latency, plus the encoder/decoder split where the method has it."""
    cfg, batch = session.cfg, session.batch(1)
    rows = [{"mode": "latency", "batch": 1,
             **_measure(session, session.call(session.module.predict, batch), cfg.warmup,
                        cfg.iters)}]
    if hasattr(session.module, "encode") and hasattr(session.module, "decode"):
        rows.append({"mode": "encoder", "batch": 1, **_measure(
            session, session.call(session.module.encode, batch), cfg.warmup, cfg.iters)})
        features = session.call(session.module.encode, batch)()
        rows.append({"mode": "decoder", "batch": 1, **_measure(
            session, session.call(session.module.decode, features, batch), cfg.warmup,
            cfg.iters)})
    for row in rows:
        if row["status"] == "ok":
            row["images_per_s"] = 1e3 / row["latency_ms_mean"]
    return rows


def max_batch(cfg: DictConfig, device: torch.device) -> int:
    """The doubling sweep's cap: ``cfg.max_batch``, else 1024 on CUDA and 8 on the CPU."""
    if cfg.max_batch:
        return int(cfg.max_batch)
    return CUDA_MAX_BATCH if device.type == "cuda" else CPU_MAX_BATCH


def offline_rows(session: Session) -> list[dict[str, Any]]:
    """Images per second at batch 1, 2, 4, ... until an OOM row or the cap; one row each."""
    cap, rows, n = max_batch(session.cfg, session.device), [], 1
    while n <= cap:
        row = _measure(session, session.call(session.module.predict, session.batch(n)), 1,
                       session.cfg.batch_iters)
        if row["status"] == "ok":
            row["images_per_s"] = n * 1e3 / row["latency_ms_mean"]
        rows.append({"mode": "offline", "batch": n, **row})
        if row["status"] != "ok":
            break
        n *= 2
    last = rows[-1]
    last["stop_reason"] = (f"{last['status']} at batch {last['batch']}" if last["status"] != "ok"
                           else f"cap {cap} ({session.device.type}; throughput.max_batch)")
    return rows


def count_flops(session: Session) -> float:
    """FLOPs of one batch-1 ``predict`` (NaN when the counter cannot trace the call)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    try:
        with counter:
            session.call(session.module.predict, session.batch(1))()
    except Exception:  # noqa: BLE001 - an untraceable call leaves the count unknown, not wrong
        traceback.print_exc()
        return float("nan")
    return float(counter.get_total_flops())


def _identity(session: Session) -> dict[str, Any]:
    prov = provenance.collect()
    hardware = prov["hardware"]
    return {"method": session.method_id, "backbone": session.mcfg.backbone,
            "variant": session.mcfg.variant, "size": session.size,
            "input_shape": "x".join(map(str, session.shape)),
            "device": session.device.type,
            "device_name": hardware.get("gpu", prov["platform"]) if session.device.type == "cuda"
            else f"cpu x{hardware['torch_threads']} threads",
            "dtype": session.cfg.dtype, "weights": session.weights,
            **session.params, "torch": torch.__version__, "git_sha": prov["git_sha"],
            "host": prov["host"], "slurm_job_id": prov["slurm_job_id"] or "",
            "container_sha256": (prov["container"] or {}).get("sha256", "")}


def _build_failure(cfg: DictConfig, err: Exception) -> pd.DataFrame:
    mcfg = cfg.method
    return pd.DataFrame([{"method": config.method_id(cfg), "backbone": mcfg.backbone,
                          "variant": mcfg.variant, "size": int(cfg.size or mcfg.image_size),
                          "device": select_device(cfg.device).type, "dtype": cfg.dtype,
                          "mode": "build", "batch": 0, "status": "failed",
                          "error": f"{type(err).__name__}: {err}"[:500]}])


def measure(cfg: DictConfig) -> pd.DataFrame:
    """Every row of one method x backbone x size (a crash while building is one ``failed`` row;
    a configuration or weights-file error still stops the stage with its message)."""
    torch.manual_seed(cfg.seed)
    try:
        session = Session(cfg)
    except (weights.WeightsFileError, WeightsError, config.ConfigError):
        raise
    except Exception as err:  # noqa: BLE001 - recorded, so the report lists it
        traceback.print_exc()
        return _build_failure(cfg, err)
    flops = count_flops(session)
    rows = latency_rows(session) + offline_rows(session)
    ident = _identity(session) | {"flops_b1": flops}
    return pd.DataFrame([ident | row for row in rows])


def run(cfg: DictConfig, out: Path) -> pd.DataFrame:
    """Measure and write ``throughput.csv`` atomically."""
    table = measure(cfg)
    write_table(out, table)
    return table
