"""Atomic writes: a crash mid-write leaves the previous file intact and no temporary behind; files
follow the umask; an unwritable folder is one sentence naming it and the cause."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

import pytest

from benchmarks import cli
from benchmarks.core import io
from benchmarks.core.io import atomic_path, write_text


def test_crash_keeps_previous_content(tmp_path: Path) -> None:
    target = tmp_path / "result.csv"
    write_text(target, "finished result\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "finished result\n"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    """Issue 9 item 6: mkstemp alone gives 0600, unreadable for the group on a shared cluster."""
    old = os.umask(umask)
    try:
        write_text(tmp_path / "metrics.csv", "x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "metrics.csv").stat().st_mode) == mode


def _refuse(code: int):
    def mkstemp(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return mkstemp


@pytest.mark.parametrize("code, cause", [(errno.EROFS, "read-only"), (errno.ENOSPC, "disk is full"),
                                         (errno.EACCES, "may not write")])
def test_unwritable_folder_is_named_with_its_cause(tmp_path: Path, monkeypatch, code: int,
                                                   cause: str) -> None:
    """Issue 9 item 7 (as root, permissions cannot be simulated: the error comes from the write
    layer itself)."""
    monkeypatch.setattr(tempfile, "mkstemp", _refuse(code))
    with pytest.raises(io.ResultsWriteError, match=f"in {tmp_path}: .*{cause}"):
        write_text(tmp_path / "a.json", "{}")


def test_disk_full_while_writing_keeps_no_temporary(tmp_path: Path) -> None:
    with pytest.raises(io.ResultsWriteError, match="disk is full"), \
            atomic_path(tmp_path / "predictions.npz"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_cli_on_read_only_results_prints_one_sentence(tmp_path: Path, bus_root: Path,
                                                      monkeypatch, capsys) -> None:
    monkeypatch.setattr(tempfile, "mkstemp", _refuse(errno.EROFS))
    out = tmp_path / "splits" / "split.json"
    code = cli.main(["split", "--out", str(out), "dataset=synthetic_bus",
                     "dataset_id=synthetic_bus", f"dataset.root={bus_root}"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"cannot write split.json in {out.parent}: its file system is mounted read-only" in err


def test_read_only_results_at_the_lock_is_one_sentence_naming_a_real_fix(
        tmp_path: Path, bus_root: Path, monkeypatch, capsys) -> None:
    """Issue 19 item 11: a stage run by hand on a read-only results folder failed with a bare
    OSError on the lock file, and the message named paths.results, which nothing reads."""
    from benchmarks.runs import cell_lock

    def refuse(lock: Path, text: str) -> bool:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(cell_lock, "_try_create", refuse)
    out = tmp_path / "results" / "splits" / "dataset=synthetic_bus" / "split.json"
    code = cli.main(["split", "--out", str(out), "dataset=synthetic_bus",
                     "dataset_id=synthetic_bus", f"dataset.root={bus_root}"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    folder = tmp_path / "results" / "status" / "dataset=synthetic_bus"
    assert f"cannot write split.lock in {folder}: its file system is mounted read-only" in err
    assert "--directory" in err and "paths.results" not in err


def test_disk_full_inside_torch_save_names_the_file_and_keeps_no_temporary(
        tmp_path: Path) -> None:
    """Issue 19 item 12: a full disk during train was a bare RuntimeError from torch's
    serializer (it reports no errno)."""
    target = tmp_path / "train" / "model.pt"
    with pytest.raises(io.ResultsWriteError,
                       match=rf"no space left on device writing {target} \(torch: "), \
            atomic_path(target):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . PytorchStreamWriter "
                           "failed writing file data/0: file write failed")
    assert list(target.parent.iterdir()) == []
    with pytest.raises(RuntimeError, match="another failure"), atomic_path(target):
        raise RuntimeError("another failure")  # not a write failure: left as it is
