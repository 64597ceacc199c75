"""Bad input at job start: one line naming the key or file, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_overrides


def _train(tmp_path: Path, overrides: list[str]) -> subprocess.CompletedProcess:
    split = next(o for o in overrides if o.startswith("split_file=")).split("=", 1)[1]
    rest = [o for o in overrides if not o.startswith("split_file=")]
    cmd = [sys.executable, "-m", "benchmarks.cli", "train", "--out", str(tmp_path / "train"),
           "--split", split, *rest]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.mark.parametrize("extra, message", [
    (["method.max_step=2"], "Key 'max_step' not in 'Config'"),
    (["method.weights=absent.pt", f"method.weights_sha256={'a' * 64}"], "absent.pt not found"),
    (["method.frozen=[no_such_layer.]"], "matches no parameter"),
], ids=["misspelled_key", "missing_weights_file", "frozen_prefix_typo"])
def test_train_fails_with_named_cause(tmp_path: Path, bus_root: Path, bus_split: Path,
                                      extra: list[str], message: str) -> None:
    proc = _train(tmp_path, run_overrides("resnet_seg", bus_root, bus_split, *extra))
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not (tmp_path / "train" / "model.pt").exists()
