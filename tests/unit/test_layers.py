"""The import-layer contracts of pyproject.toml (ARCHITECTURE.md) hold, and break when a layer is
broken on purpose: a lower layer importing a higher one, a method importing a stage, torch in a
light stage."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the packages under ``root`` with its pyproject.toml."""
    return subprocess.run([str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and the contracts, to break on purpose."""
    for name in ("benchmarks", "methods"):
        shutil.copytree(REPO / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.csv"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_contracts_hold() -> None:
    proc = lint(REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("benchmarks/core/io.py", "from benchmarks.stages import train", "Harness layers"),
    ("benchmarks/scoring/metrics.py", "from benchmarks.data import prompts", "Harness layers"),
    ("benchmarks/runs/grid.py", "from benchmarks.report import blocks", "Harness layers"),
    ("methods/sma/method.py", "from benchmarks.stages import cases", "Methods see only"),
    ("methods/sma/method.py", "from methods.sam_zeroshot import method", "independent"),
    ("benchmarks/data/splits.py", "import torch", "Light stages"),
    ("benchmarks/report/glance.py", "from benchmarks.data import batches", "Light stages"),
], ids=["core->stages", "scoring->data", "runs->report", "method->stage", "method->method",
        "torch in splits", "torch via batches in the report"])
def test_a_broken_layer_fails(tree: Path, module: str, line: str, contract: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n\ndef _broken():\n    {line}\n")
    proc = lint(tree)
    assert proc.returncode != 0
    broken = proc.stdout.split("Broken contracts")[1]
    assert contract in broken, broken[:2000]


def test_every_method_is_in_the_independence_contract() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    listed = next(c["modules"] for c in config["contracts"] if c["type"] == "independence")
    folders = {f"methods.{p.name}" for p in (REPO / "methods").iterdir()
               if (p / "method.py").exists()}
    assert folders == set(listed), "add new methods to the independence contract in pyproject.toml"
