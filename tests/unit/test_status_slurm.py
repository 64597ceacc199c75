"""Stage records of attempts killed from outside: history, Slurm's account, kill markers, the table.

Slurm itself is exercised in tests/slurm; here its answers are fixed strings taken from real runs
of the CI cluster (slurmstepd log lines, jobcomp states), so the mapping has known answers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.runs import status

CELL = "dataset=synthetic_bus/method=resnet_seg/backbone=resnet18/prompt=none/fold=0/seed=0"
OOM_LINE = ("slurmstepd: error: StepId=19.0 exceeded memory limit (1318989824 > 1048576000), "
            "being killed")
TIME_LINE = ("slurmstepd: error: *** JOB 7 ON vm CANCELLED AT 2026-11-23T20:10:01 "
             "DUE TO TIME LIMIT ***")
CANCEL_LINE = "slurmstepd: error: *** JOB 8 ON vm CANCELLED AT 2026-11-23T20:11:00 ***"


def _read(root: Path, stage: str = "train") -> dict:
    return json.loads(status.status_path(root, CELL, stage).read_text())


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_log_marker_known_lines() -> None:
    assert status.log_marker(f"foo\n{OOM_LINE}\n") == ("exceeded memory limit", "oom")
    assert status.log_marker(TIME_LINE) == ("DUE TO TIME LIMIT", "timeout")
    assert status.log_marker(CANCEL_LINE) == ("CANCELLED AT", "failed")
    assert status.log_marker("Finished job 0.") is None


@pytest.mark.parametrize(("slurm_state", "log_line", "expected"), [
    ("FAILED", OOM_LINE, "oom"),  # OverMemoryKill without cgroups: FAILED + the log line
    ("OUT_OF_MEMORY", "", "oom"),  # cgroup clusters say so themselves
    ("TIMEOUT", TIME_LINE, "timeout"),
    ("CANCELLED by 0", CANCEL_LINE, "failed"),
    ("CANCELLED+", TIME_LINE, "timeout"),
    ("NODE_FAIL", "", "failed"),
])
def test_slurm_outcome_maps_states(tmp_path: Path, monkeypatch, slurm_state, log_line,
                                   expected) -> None:
    log = tmp_path / "slurm_logs" / "rule_train_model" / "bus_resnet_seg_0_0" / "42.log"
    log.parent.mkdir(parents=True)
    log.write_text(f"host: vm\n{log_line}\n")
    monkeypatch.setattr(status, "slurm_job_state", lambda job: slurm_state)
    state, reason = status.slurm_outcome("42", (str(tmp_path / "slurm_logs"),))
    assert state == expected
    assert reason.startswith(f"Slurm job 42: {slurm_state}")


@pytest.mark.parametrize("active", ["PENDING", "RUNNING", "COMPLETING", None])
def test_slurm_outcome_none_while_active_or_unknown(monkeypatch, active) -> None:
    monkeypatch.setattr(status, "slurm_job_state", lambda job: active)
    assert status.slurm_outcome("42", ()) is None


def test_memory_error_is_recorded_as_oom(tmp_path: Path) -> None:
    status.record(tmp_path, CELL, "train", "failed", error="OutOfMemoryError: CUDA out of memory")
    assert _read(tmp_path)["state"] == "oom"
    status.record(tmp_path, CELL, "predict", "failed", error="ValueError: bad")
    assert _read(tmp_path, "predict")["state"] == "failed"


def test_same_attempt_overwrites_and_new_attempt_keeps_history(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    status.record(tmp_path, CELL, "train", "running")
    status.record(tmp_path, CELL, "train", "failed", error="RuntimeError: x")
    assert _read(tmp_path)["history"] == []  # one attempt: running -> failed
    monkeypatch.setattr(status.os, "getpid", lambda: 999_999_999)  # the retry is another process
    status.record(tmp_path, CELL, "train", "running")
    status.record(tmp_path, CELL, "train", "done")
    entry = _read(tmp_path)
    assert entry["state"] == "done"
    assert [a["state"] for a in entry["history"]] == ["failed"]


def test_killed_local_attempt_is_settled_when_the_retry_starts(tmp_path: Path,
                                                              monkeypatch) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setattr(status.os, "getpid", _dead_pid)
    status.record(tmp_path, CELL, "train", "running")  # then SIGKILLed: no end recorded
    monkeypatch.undo()
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    status.record(tmp_path, CELL, "train", "running")
    (first,) = _read(tmp_path)["history"]
    assert first["state"] == "failed"
    assert "ended without recording a result" in first["reason"]


def test_killed_slurm_attempt_takes_slurms_reason(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    monkeypatch.setenv("SNAKEMAKE_ATTEMPT", "1")
    status.record(tmp_path, CELL, "train", "running")
    monkeypatch.setattr(status, "slurm_outcome",
                        lambda job: ("oom", f"Slurm job {job}: FAILED; log x: 'exceeded'"))
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("SNAKEMAKE_ATTEMPT", "2")
    status.record(tmp_path, CELL, "train", "running")
    status.record(tmp_path, CELL, "train", "done")
    table = status.failure_table(tmp_path)
    assert table.to_dict("records") == [{
        "dataset": "synthetic_bus", "method": "resnet_seg", "backbone": "resnet18", "fold": 0,
        "seed": 0, "stage": "train", "attempt": 1, "state": "oom", "final_state": "done",
        "slurm_job_id": "41", "reason": "Slurm job 41: FAILED; log x: 'exceeded'",
        "time": table.loc[0, "time"]}]


def test_failure_table_settles_and_persists_a_dead_latest_attempt(tmp_path: Path,
                                                                  monkeypatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    status.record(tmp_path, CELL, "predict", "running")
    monkeypatch.setattr(status, "slurm_outcome", lambda job: ("timeout", "Slurm job 77: TIMEOUT"))
    table = status.failure_table(tmp_path)
    assert list(table[["stage", "state", "final_state"]].itertuples(index=False, name=None)) == [
        ("predict", "timeout", "timeout")]
    assert _read(tmp_path, "predict")["state"] == "timeout"  # written back


def test_failure_table_empty_has_columns(tmp_path: Path) -> None:
    table = status.failure_table(tmp_path)
    assert table.empty
    assert list(table.columns) == status.COLUMNS


def test_running_attempt_stays_running_while_slurm_runs_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "5")
    status.record(tmp_path, CELL, "train", "running")
    monkeypatch.setattr(status, "slurm_job_state", lambda job: "RUNNING")
    assert status.failure_table(tmp_path)["state"].tolist() == ["running"]
