"""`cli submit`: one grid cell rerun as one job (submitit's in-process ``debug`` executor here;
tests/slurm runs it on a real cluster)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from benchmarks.runs import grid, status, submit
from tests.conftest import REPO

RESNET = grid.Run("synthetic_bus", "resnet_seg", "resnet18", 0, 0)
CONFIG = {
    "datasets": {"synthetic_bus": {"loader": "synthetic_bus", "root": "results/data/synthetic_bus",
                                   "generate": "bus", "n_cases": 12,
                                   "overrides": ["dataset.n_folds=3"]}},
    "methods": {
        "resnet_seg": {"backbones": ["resnet18"],
                       "overrides": ["method.variant=tiny", "method.image_size=64",
                                     "method.max_steps=2", "method.batch_size=2"],
                       "resources": {"train": {"gpu": 0, "mem_gb": 2, "runtime_min": 10},
                                     "predict": {"gpu": 0, "mem_gb": 3, "runtime_min": 7}}},
        "yolo_seg": {"backbones": ["n"], "overrides": ["method.variant=tiny"]},
    },
    "folds": [0],
    "seeds": [0],
}


def test_cell_needs_take_max_memory_and_gpu_and_summed_runtime() -> None:
    evaluate = submit.stage_needs(CONFIG, "resnet_seg", "evaluate")  # from the card
    assert submit.stage_needs(CONFIG, "resnet_seg", "predict") == {
        "gpu": 0, "runtime_min": 7, "mem_gb": 3}
    assert submit.cell_needs(CONFIG, RESNET) == {
        "gpus": max(0, evaluate["gpu"]),
        "mem_gb": max(3, evaluate["mem_gb"]) + 1,
        "timeout_min": 10 + 7 + evaluate["runtime_min"] + 5}


def test_a_cell_outside_the_grid_is_refused(tmp_path: Path) -> None:
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(CONFIG))
    with pytest.raises(ValueError, match="not a runnable cell"):
        submit.submit(configfile, grid.Run("synthetic_bus", "resnet_seg", "resnet18", 3, 0),
                      cluster="debug", workdir=tmp_path)


@pytest.mark.slow
def test_debug_executor_reruns_exactly_one_cell(tmp_path: Path, monkeypatch) -> None:
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(CONFIG))
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the rules run `python -m benchmarks.cli`
    monkeypatch.setenv("PATH", f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}")
    job = submit.submit(configfile, RESNET, cluster="debug", workdir=tmp_path)
    assert submit.wait(job) == "COMPLETED"
    runs = tmp_path / "results" / "runs"
    assert (runs / RESNET.path / "evaluate" / "metrics.csv").stat().st_size > 0
    assert not list(runs.glob("*/method=yolo_seg"))  # the other cell was not run
    record = json.loads(status.status_path(tmp_path / "results", RESNET.path, "train")
                        .read_text())
    assert record["state"] == "done" and record["history"] == []
    text = submit.report(tmp_path / "results", RESNET, job.job_id, "COMPLETED")
    assert text.splitlines() == [
        f"cell {RESNET.path}: job {job.job_id} COMPLETED",
        "  train     done", "  predict   done", "  evaluate  done"]
