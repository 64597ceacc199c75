"""The throughput grid (method x backbone x input size, once: no dataset, fold or seed axis) and
the summary table of its measurements. Torch-free: ``workflow/rules/common.smk`` and the
aggregation stage import it.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import pandas as pd

from benchmarks.core import registry
from benchmarks.core.io import read_table
from benchmarks.runs import grid

PATTERN = "results/throughput/method={method}/backbone={backbone}/size={size}/throughput.csv"
NATIVE = "native"  # size wildcard: the method's own image_size (the rows record the number)
_SIZE_OVERRIDE = re.compile(r"^method\.image_size=(\d+)$")


def sizes(config: dict[str, Any], method_id: str) -> list[str]:
    """Input sizes of one method: ``throughput.sizes``, else the method's ``method.image_size``
    override, else its Config default (``native``)."""
    given = (config.get("throughput") or {}).get("sizes") or []
    if given:
        return [str(int(s)) for s in given]
    for item in (config["methods"][method_id] or {}).get("overrides", []):
        match = _SIZE_OVERRIDE.match(item)
        if match:
            return [match.group(1)]
    return [NATIVE]


def cells(config: dict[str, Any]) -> list[dict[str, str]]:
    """One entry per method x backbone x size of the configured grid."""
    out = []
    for method_id, entry in config["methods"].items():
        backbones = (entry or {}).get("backbones") or registry.read_card(method_id)["backbones"][:1]
        for backbone in backbones:
            for size in sizes(config, method_id):
                out.append({"method": method_id, "backbone": str(backbone), "size": size})
    return out


def targets(config: dict[str, Any]) -> list[str]:
    """The throughput files of the grid (inputs of the summary rule)."""
    return [PATTERN.format(**cell) for cell in cells(config)]


def overrides(config: dict[str, Any], method_id: str, backbone: str, size: str) -> str:
    """Hydra overrides of one measurement: method, backbone, size, then config.yaml's own."""
    method = config["methods"][method_id] or {}
    items = [f"method={method_id}", f"method.backbone={backbone}"]
    if size != NATIVE:
        items.append(f"size={int(size)}")
    for key, value in sorted((config.get("paths") or {}).items()):  # meaning, not key order
        items.append(f"paths.{key}={grid.hydra_value(value)}")
    items += list(method.get("overrides", []))
    items += list((config.get("throughput") or {}).get("overrides", []))
    items += list(method.get("throughput", []))  # this method's own, last (config schema)
    return " ".join(shlex.quote(item) for item in items)


def collect(paths: list[str]) -> pd.DataFrame:
    """All measurement rows of the declared files (a missing file is an error)."""
    if not paths:
        return pd.DataFrame(columns=["method", "backbone", "size", "mode", "batch", "status"])
    return pd.concat([read_table(p) for p in paths], ignore_index=True)


def headline(table: pd.DataFrame) -> pd.DataFrame:
    """One row per method x backbone x size x device x dtype: batch-1 latency, the best offline
    throughput (largest batch that fitted), encoder/decoder p50 where measured, memory, size."""
    keys = ["method", "backbone", "size", "device", "dtype"]
    rows = []
    for key, group in table.groupby(keys, sort=True):
        ok = group[group["status"] == "ok"]
        lat = ok[ok["mode"] == "latency"]
        off = ok[ok["mode"] == "offline"]
        best = off.loc[off["batch"].idxmax()] if len(off) else None
        stop = group.get("stop_reason", pd.Series(dtype=str)).dropna()
        row = dict(zip(keys, key, strict=True)) | {
            "status": "ok" if len(lat) else ";".join(sorted(set(group["status"]))),
            "latency_ms_p50": _first(lat, "latency_ms_p50"),
            "latency_ms_p90": _first(lat, "latency_ms_p90"),
            "latency_ms_p99": _first(lat, "latency_ms_p99"),
            "best_batch": None if best is None else int(best["batch"]),
            "images_per_s": None if best is None else float(best["images_per_s"]),
            "input_shape": _first(group, "input_shape"),  # (1, X, Y, Z): a 3D patch counts
            "encoder_ms_p50": _first(ok[ok["mode"] == "encoder"], "latency_ms_p50"),
            "decoder_ms_p50": _first(ok[ok["mode"] == "decoder"], "latency_ms_p50"),
            "peak_mem_mib": _peak(ok), "params_total": _first(group, "params_total"),
            "params_trainable": _first(group, "params_trainable"),
            "gflops_b1": _first(group, "flops_b1") / 1e9 if "flops_b1" in group else None,
            "stop_reason": stop.iloc[-1] if len(stop) else "",
            "weights": _first(group, "weights"), "device_name": _first(group, "device_name")}
        rows.append(row)
    return pd.DataFrame(rows)


def _first(df: pd.DataFrame, col: str) -> Any:
    values = df[col].dropna() if col in df else []
    return values.iloc[0] if len(values) else float("nan")


def _peak(ok: pd.DataFrame) -> float:
    cols = [c for c in ("peak_alloc_mib", "peak_rss_mib") if c in ok]
    values = ok[cols].max(axis=1, skipna=True) if cols else pd.Series(dtype=float)
    return float(values.max()) if len(values.dropna()) else float("nan")
