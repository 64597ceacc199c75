"""The light stages never import torch, torchvision, ultralytics or a method; train and predict
import only the method they run (issue 14).

Each stage runs for real through ``benchmarks.cli`` in its own interpreter on a small synthetic
cell: make-data, split, prompts, evaluate (predictions equal to the references, so Dice is 1),
aggregate and report. The interpreter then lists the heavy modules it holds; the list must be
empty. Train (``max_steps=0``) and predict of resnet_seg may hold torch and torchvision, but no
ultralytics and no other method.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.core.io import write_json, write_table, write_text
from benchmarks.runs import config, grid
from benchmarks.stages import cases
from tests.conftest import REPO

PROBE = """import json, sys
from benchmarks import cli
code = cli.main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules
                if m.split(".")[0] in ("torch", "torchvision", "ultralytics")}
               | {m for m in sys.modules if m.count(".") == 1 and m.startswith("methods.")
                  and not m.startswith("methods._")})  # a method package, not _api or _sam2
print(json.dumps({"code": code, "heavy": heavy}))
"""
RUN = grid.Run("synthetic_bus", "resnet_seg", "resnet18", 0, 0)


def _stage(tmp: Path, *args: str, allowed: tuple[str, ...] = ()) -> None:
    """Run one CLI stage in a fresh interpreter; it must succeed holding only ``allowed`` of the
    heavy packages and method packages."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          cwd=tmp, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "heavy": sorted(allowed)}, (args[0], result)


def _fake_training(results: Path, overrides: list[str]) -> Path:
    """What train and predict leave in a cell, with predictions equal to the references."""
    cell = results / "runs" / RUN.path
    cfg = config.compose_run(overrides)
    write_text(cell / "train" / "config.resolved.yaml", config.to_yaml(cfg))
    write_json(cell / "train" / "provenance.json", {"weights": "random_init"})
    data = cases.open_run(cfg)
    ids = data.case_ids(0, "test")
    masks = {cid: data.load(cid).mask for cid in ids}
    (cell / "predict").mkdir(parents=True)
    np.savez_compressed(cell / "predict" / "predictions.npz", **masks)
    write_table(cell / "predict" / "cases.csv",
                pd.DataFrame({"case_id": ids, "status": "ok", "message": ""}))
    return cell


def test_light_stages_never_import_torch(tmp_path: Path, bus_root: Path) -> None:
    _stage(tmp_path, "make-data", "--kind", "bus", "--n", "4", "--out", "made")
    results = tmp_path / "results"
    split = results / "splits" / "dataset=synthetic_bus" / "split.json"
    data = ["dataset=synthetic_bus", "dataset_id=synthetic_bus", f"dataset.root={bus_root}",
            "dataset.n_folds=3"]
    _stage(tmp_path, "split", "--out", str(split), *data)
    prompts = results / "prompts" / "dataset=synthetic_bus/protocol=box/seed=0/prompts.json"
    _stage(tmp_path, "prompts", "--split", str(split), "--protocol", "box", "--out",
           str(prompts), *data)
    overrides = ["method=resnet_seg", "method.backbone=resnet18", "method.variant=tiny",
                 "fold=0", "seed=0", "prompt=none", *data]
    cell = _fake_training(results, [*overrides, f"split_file='{split}'"])
    metrics = cell / "evaluate" / "metrics.csv"
    _stage(tmp_path, "evaluate", "--split", str(split), "--pred", str(cell / "predict"),
           "--provenance", str(cell / "train" / "provenance.json"), "--out", str(metrics),
           *overrides)
    table = pd.read_csv(metrics)
    assert (table["dice"] == 1.0).all() and (table["variant"] == "tiny").all()
    grid.write_cells([RUN], results / "summary" / "cells.tsv")
    _stage(tmp_path, "aggregate", "--cells", str(results / "summary" / "cells.tsv"),
           "--results", str(results), "--out", str(results / "summary"))
    report = results / "report" / "report.html"
    _stage(tmp_path, "report", "--summary", str(results / "summary"), "--out", str(report))
    assert "resnet_seg" in report.read_text()


def test_train_and_predict_import_only_their_method(tmp_path: Path, bus_root: Path,
                                                    bus_split: Path) -> None:
    cell = tmp_path / "results" / "runs" / RUN.path
    overrides = ["method=resnet_seg", "method.backbone=resnet18", "method.variant=tiny",
                 "method.image_size=32", "method.max_steps=0", "fold=0", "seed=0",
                 "prompt=none", "dataset=synthetic_bus", "dataset_id=synthetic_bus",
                 f"dataset.root={bus_root}", "dataset.n_folds=3"]
    used = ("methods.resnet_seg", "torch", "torchvision")
    _stage(tmp_path, "train", "--out", str(cell / "train"), "--split", str(bus_split),
           *overrides, allowed=used)
    _stage(tmp_path, "predict", "--model", str(cell / "train" / "model.pt"), "--out",
           str(cell / "predict"), "--split", str(bus_split), *overrides, allowed=used)
    assert len(pd.read_csv(cell / "predict" / "cases.csv")) == 4  # 12 cases, 3 folds
