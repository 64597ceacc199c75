"""Atomic writes: a crash mid-write leaves the previous file intact and no temporary behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.io import atomic_path, write_text


def test_crash_keeps_previous_content(tmp_path: Path) -> None:
    target = tmp_path / "result.csv"
    write_text(target, "finished result\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "finished result\n"
    assert list(tmp_path.iterdir()) == [target]
