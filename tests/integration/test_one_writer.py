"""One writer per cell (issue 9 item 3): after ``kill -9`` of a stage's driver its stage process
lives on; a second run of the same cell waits for it instead of writing the same folder at the same
time, and the status file never marks the live process as killed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmarks.runs import cell_lock, status
from tests.conftest import REPO, run_overrides

CELL = "dataset=synthetic_bus/method=resnet_seg/backbone=resnet18/prompt=none/fold=0/seed=0"


def _train_cmd(results: Path, split: Path, overrides: list[str], steps: int) -> list[str]:
    rest = [o for o in overrides if not o.startswith("split_file=")]
    return [sys.executable, "-m", "benchmarks.cli", "train", "--out",
            str(results / "runs" / CELL / "train"), "--split", str(split), *rest,
            f"paths.results={results}", f"method.max_steps={steps}"]


def _wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("condition not reached")
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_killed_driver_then_rerun_has_one_writer_at_a_time(tmp_path: Path, bus_root: Path,
                                                           bus_split: Path) -> None:
    results = tmp_path / "results"
    overrides = run_overrides("resnet_seg", bus_root, bus_split, "method.optimizer=adamw",
                              "method.lr=0.0003")
    record = status.status_path(results, CELL, "train")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # the driver: a parent that starts the stage process and waits for it (as snakemake does)
    first_cmd = _train_cmd(results, bus_split, overrides, steps=10)
    driver = subprocess.Popen(["bash", "-c", '"$@" > "$LOG" 2>&1 & wait', "driver", *first_cmd],
                              cwd=REPO, env={**env, "LOG": str(tmp_path / "first.log")})
    first_pid = None
    try:
        _wait_for(lambda: record.exists() and json.loads(record.read_text())["state"] == "running")
        first_pid = json.loads(record.read_text())["pid"]
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert _alive(first_pid), "the stage process should outlive its killed driver"
        os.kill(first_pid, signal.SIGSTOP)  # keep it mid-stage, however fast the machine
        err = tmp_path / "second.err"
        with open(err, "w") as handle:
            second = subprocess.Popen(_train_cmd(results, bus_split, overrides, steps=2),
                                      cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=handle)
        waiting = f"waiting for host {socket.gethostname()} pid {first_pid}"
        _wait_for(lambda: waiting in err.read_text() or second.poll() is not None)
        assert waiting in err.read_text(), err.read_text()[-2000:]
        os.kill(first_pid, signal.SIGCONT)
        assert second.wait(timeout=300) == 0, err.read_text()[-2000:]
        _wait_for(lambda: not _alive(first_pid))
    finally:
        if first_pid and _alive(first_pid):
            os.kill(first_pid, signal.SIGKILL)
    final = json.loads(record.read_text())
    (earlier,) = final["history"]
    assert earlier["pid"] == first_pid and earlier["state"] == "done"  # not "killed"
    assert final["state"] == "done" and final["pid"] != first_pid
    assert final["started"] >= earlier["time"]  # the second wrote only after the first ended
    assert not status.lock_path(results, CELL, "train").exists()
    state = torch.load(results / "runs" / CELL / "train" / "model.pt", weights_only=True)
    assert state["method"] == "resnet_seg"
    log = (results / "runs" / CELL / "train" / "train_log.csv").read_text().splitlines()
    assert len(log) == 1 + 2  # the second run's two steps: the last writer's complete result


def test_busy_cell_stops_naming_the_holder_when_told_not_to_wait(tmp_path: Path) -> None:
    lock = tmp_path / "train.lock"
    with cell_lock.held(lock), pytest.raises(cell_lock.CellBusyError,
                       match=f"host {socket.gethostname()} pid {os.getpid()}"):
        cell_lock.acquire(lock, wait_s=0)


def test_dead_holder_on_this_host_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "train.lock"
    no_such_pid = 2 ** 22 + 17  # above Linux's largest pid_max
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": no_such_pid}))
    text = cell_lock.acquire(lock, wait_s=0)
    assert json.loads(text)["pid"] == os.getpid()
    cell_lock.release(lock, text)
    assert not lock.exists()


def test_other_host_holder_is_stale_only_without_heartbeat(tmp_path: Path) -> None:
    lock = tmp_path / "train.lock"
    lock.write_text(json.dumps({"host": "node-elsewhere", "pid": 1}))
    with pytest.raises(cell_lock.CellBusyError, match="host node-elsewhere pid 1"):
        cell_lock.acquire(lock, wait_s=0, stale_s=60)
    old = time.time() - 120
    os.utime(lock, (old, old))  # its heartbeat stopped two minutes ago
    text = cell_lock.acquire(lock, wait_s=0, stale_s=60)
    assert json.loads(text)["host"] == socket.gethostname()


def test_heartbeat_refreshes_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "train.lock"
    with cell_lock.held(lock, heartbeat_s=0.05):
        old = time.time() - 1000
        os.utime(lock, (old, old))
        time.sleep(0.3)
        assert time.time() - lock.stat().st_mtime < 10


def test_exited_but_unreaped_holder_is_dead() -> None:
    child = subprocess.Popen(["true"])
    _wait_for(lambda: _proc_state(child.pid) == "Z", timeout=10)  # exited, not waited for
    assert not cell_lock.alive_here({"pid": child.pid})
    child.wait()
    assert cell_lock.alive_here({"pid": os.getpid()})
