"""Planning the grid with real Snakemake: job counts per rule, parse-time errors, lint."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

GRID = {  # 2 methods x 2 datasets x 2 backbones x 2 folds x 2 seeds = 32 cells
    "datasets": {"synthetic_bus": {"loader": "synthetic_bus", "root": "results/data/synthetic_bus",
                                   "generate": "bus"},
                 "bus_copy": {"loader": "synthetic_bus", "root": "results/data/bus_copy",
                              "generate": "bus"}},
    "methods": {"resnet_seg": {"backbones": ["resnet18", "resnet50"]},
                "yolo_seg": {"backbones": ["n", "s"]}},
    "folds": [0, 1],
    "seeds": [0, 1],
}


def snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    """Run snakemake on the repository's Snakefile in ``workdir`` with ``config``."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = ["snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=_env())


def run_grid(workdir: Path, config: dict) -> Path:
    """Run ``config`` to the end on 2 cores in ``workdir``; fail with snakemake's output tails."""
    proc = snakemake(workdir, config, "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env["PATH"] = f"{Path(REPO / '.venv' / 'bin')}:{env['PATH']}"
    return env


def job_counts(stdout: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    table = stdout.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_dry_run_job_counts_per_rule(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, GRID, "-n", "--cores", "1")
    assert proc.returncode == 0, proc.stderr
    counts = job_counts(proc.stdout)
    cells = 2 * 2 * 2 * 2 * 2
    speed = 2 * 2  # throughput: once per method x backbone (x size), not per dataset/fold/seed
    assert counts == {"make_data": 2, "make_split": 2, "train_model": cells, "predict_cases": cells,
                      "evaluate_predictions": cells, "aggregate_results": 1, "render_report": 1,
                      "measure_throughput": speed, "summarize_throughput": 1,
                      "summarize_provenance": 1, "all": 1,
                      "total": 2 + 2 + 3 * cells + speed + 5}


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["methods"].update(unknown_method={}), "unknown method 'unknown_method'"),
    (lambda c: c["datasets"].update(x={"loader": "nope"}), "unknown loader 'nope'"),
    (lambda c: c.update(seed=[0]), "seed"),
], ids=["unknown_method", "unknown_dataset_loader", "misspelled_top_level_key"])
def test_bad_config_fails_at_parse_time(tmp_path: Path, mutate, message: str) -> None:
    config = yaml.safe_load(yaml.safe_dump(GRID))
    mutate(config)
    proc = snakemake(tmp_path, config, "-n", "--cores", "1")
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def test_lint_reports_no_errors(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, GRID, "--lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_check_is_clean() -> None:
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ruff"), "check", str(REPO)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_prompts_file_is_made_through_the_workflow(tmp_path: Path) -> None:
    import json

    config = {"datasets": {"synthetic_bus": {**GRID["datasets"]["synthetic_bus"], "n_cases": 12}},
              "methods": {"resnet_seg": {}}, "folds": [0], "seeds": [0]}
    target = "results/prompts/dataset=synthetic_bus/protocol=box0/seed=0/prompts.json"
    proc = snakemake(tmp_path, config, "--cores", "1", target)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads((tmp_path / target).read_text())
    split = (tmp_path / "results/splits/dataset=synthetic_bus/split.json").read_bytes()
    assert doc["split_sha256"] == __import__("hashlib").sha256(split).hexdigest()
    assert len(doc["cases"]) == 12


def test_given_configfile_replaces_the_demo_grid(tmp_path: Path) -> None:
    """Issue 9 item 7: `--configfile one.yaml` ran config.yaml's demo cells too (merged)."""
    one = {"datasets": {"bus_copy": GRID["datasets"]["bus_copy"]},
           "methods": {"yolo_seg": {"backbones": ["n"]}}}
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(one))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(GRID))  # the grid of the folder
    cmd = ["snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"), "--directory",
           str(tmp_path), "--configfile", str(tmp_path / "one.yaml"), "-n", "--cores", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert job_counts(proc.stdout)["train_model"] == 1
    assert proc.stderr.splitlines()[0] == (f"grid from {tmp_path / 'one.yaml'} (replaces "
                                           "config.yaml): datasets ['bus_copy'], methods "
                                           f"['yolo_seg']; results in {tmp_path / 'results'}")
