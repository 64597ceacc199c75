"""One provenance row per trained cell (git, container, weights, hardware, training budget), read
from each cell's ``train/provenance.json`` and ``train/config.resolved.yaml``. Torch-free.

The training budget is compared with the card's ``recommended_budget`` (the paper's or upstream
recipe's), so the report can say which cells were trained for less than that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from benchmarks.core import filecache, registry
from benchmarks.core.filecache import SOURCE
from benchmarks.runs import grid

BUDGET_KEYS = ("max_steps", "max_epochs")
COLUMNS = ["cell", "dataset", "method", "backbone", "prompt", "fold", "seed", "variant", "weights",
           "git_sha", "git_dirty", "container", "container_sha256", "torch", "device",
           "slurm_job_id", "host", "trainer", "train_seconds", "params_total", "params_trainable",
           *(f"budget_{k}" for k in BUDGET_KEYS), "recommended_budget", "under_budget"]


def under_budget(budget: dict[str, Any], recommended: dict[str, Any]) -> str:
    """``"max_epochs 150 < 100"``-style text for each key below the recommendation ('' if none).

    A key the cell's config does not have (a trainer that counts epochs, not steps) is not
    compared.
    """
    short = [f"{key} {budget[key]} < {want}" for key, want in recommended.items()
             if budget.get(key) is not None and int(budget[key]) < int(want)]
    return "; ".join(short)


def cell_row(provenance_path: str | Path) -> dict[str, Any]:
    """The provenance row of one cell (the resolved config must lie beside the JSON)."""
    path = Path(provenance_path)
    prov = json.loads(path.read_text())
    resolved = yaml.safe_load((path.parent / "config.resolved.yaml").read_text())
    run = grid.parse_path(path)
    method_cfg = resolved.get("method", {})
    budget = {k: method_cfg.get(k) for k in BUDGET_KEYS}
    recommended = registry.read_card(run.method).get("recommended_budget", {})
    if prov.get("trainer") == "none":
        recommended = {}  # a zero-shot reference row is not trained at all, on purpose
    container = prov.get("container") or {}
    hardware = prov.get("hardware") or {}
    return {"cell": run.path, "dataset": run.dataset, "method": run.method,
            "backbone": run.backbone, "prompt": run.prompt, "fold": run.fold, "seed": run.seed,
            "variant": method_cfg.get("variant"), "weights": prov.get("weights", "unknown"),
            "git_sha": prov.get("git_sha"), "git_dirty": prov.get("git_dirty"),
            "container": container.get("image", ""),
            "container_sha256": container.get("sha256", ""),
            "torch": (prov.get("versions") or {}).get("torch"),
            "device": hardware.get("gpu") or f"cpu ({hardware.get('cpu_count')} cores)",
            "slurm_job_id": prov.get("slurm_job_id") or "", "host": prov.get("host"),
            "trainer": prov.get("trainer", ""), "train_seconds": prov.get("train_seconds"),
            "params_total": prov.get("params_total"),
            "params_trainable": prov.get("params_trainable"),
            **{f"budget_{k}": v for k, v in budget.items()},
            "recommended_budget": ", ".join(f"{k} {v}" for k, v in recommended.items()),
            "under_budget": under_budget(budget, recommended)}


def _parse(paths: list[str]) -> pd.DataFrame:
    return pd.DataFrame([cell_row(p) | {SOURCE: p} for p in paths])


def collect(cells_file: str | Path, results: str | Path, cache: Path) -> pd.DataFrame:
    """The provenance rows of the cells listed in ``cells_file`` that have been trained, in the
    list's order; files unchanged since the last call come from the cache (filecache)."""
    cells = grid.read_cells(cells_file)
    paths = [f"{results}/runs/{cell}/train/provenance.json" for cell in cells]
    frame, _ = filecache.load(paths, cache / "provenance.pkl", _parse)
    if frame.empty:  # no cell trained (every train failed): still a table with its columns
        return pd.DataFrame(columns=COLUMNS)
    return frame.drop(columns=SOURCE)
