"""One writer per cell and stage: a lock file held by the process that runs the stage.

After ``kill -9`` of a Snakemake driver its running job lives on; a rerun then starts a second
process on the same cell. The lock makes the second one wait for the first (or stop, naming the
first one's host and pid) instead of writing the same folder at the same time.

The lock is ``results/status/<cell>/<stage>.lock``: created with ``O_EXCL`` (atomic on local and
network file systems), holding the holder's host, pid, process start time and Slurm job id. The
holder refreshes its mtime every :data:`HEARTBEAT_S` seconds from a daemon thread. A lock is
stale, and taken over, when

- its holder ran on this host and that process is gone (or the pid now belongs to another
  process: the start time differs), or
- its holder ran on another host (a Slurm node: its pid cannot be checked from here) and the
  heartbeat is older than ``SAMSEG_LOCK_STALE_S`` (default :data:`STALE_S`).

``SAMSEG_LOCK_WAIT_S`` bounds the wait for a live holder (default: wait as long as it lives;
``0``: stop at once). The wait is what Snakemake needs: a job that fails would have its outputs
deleted, which are the live holder's files.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

HEARTBEAT_S = 30.0  # how often a holder refreshes its lock's mtime
STALE_S = 600.0  # a lock from another host without heartbeat for this long is taken over
POLL_S = 1.0  # how often a waiting writer looks again


class CellBusyError(RuntimeError):
    """Another live process writes this cell and stage; the message names its host and pid."""


def _stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (state first), or [] where unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> str | None:
    """The process start time (clock ticks since boot) from /proc, to tell a reused pid apart."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else None


def _identity() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "start_time": _start_time(os.getpid()),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "since": time.time()}


def alive_here(holder: dict[str, Any]) -> bool:
    """Whether a holder on this host still runs (same pid and same start time)."""
    pid = int(holder.get("pid") or 0)
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's live process
    if _stat(pid)[:1] == ["Z"]:  # exited, not yet reaped (an orphan under a non-reaping init)
        return False
    started = holder.get("start_time")
    return started is None or _start_time(pid) in (None, started)


def stale_reason(lock: Path, holder: dict[str, Any], stale_s: float) -> str | None:
    """Why the lock's holder is dead (``None`` while it may be alive)."""
    if holder.get("host") == socket.gethostname():
        if not alive_here(holder):
            return f"process {holder.get('pid')} on this host is gone"
        return None
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return "released"
    if age > stale_s:
        return f"no heartbeat from {holder.get('host')} for {age:.0f} s (> {stale_s:.0f} s)"
    return None


def _read(lock: Path) -> tuple[str, dict[str, Any]] | None:
    try:
        text = lock.read_text()
    except FileNotFoundError:
        return None
    try:
        return text, json.loads(text)
    except json.JSONDecodeError:  # a holder killed between create and write: no pid to check
        return text, {}


def _try_create(lock: Path, text: str) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return True


def _take_over(lock: Path, seen: str) -> None:
    """Remove a stale lock unless another writer replaced it since we read it (then restore it)."""
    moved = lock.with_name(f"{lock.name}.stale.{socket.gethostname()}.{os.getpid()}")
    try:
        os.rename(lock, moved)
    except FileNotFoundError:
        return
    if moved.read_text() != seen:  # a fresh holder's lock: restore it
        with suppress(FileExistsError):
            os.link(moved, lock)
    moved.unlink()


def _describe(holder: dict[str, Any]) -> str:
    job = f", Slurm job {holder['slurm_job_id']}" if holder.get("slurm_job_id") else ""
    return f"host {holder.get('host')} pid {holder.get('pid')}{job}"


def acquire(lock: Path, wait_s: float | None = None, stale_s: float | None = None) -> str:
    """Create ``lock`` for this process, waiting while a live holder has it; return its text.

    Raises:
        CellBusyError: when ``wait_s`` passes while a live process holds the lock.
    """
    wait_s = _env_float("SAMSEG_LOCK_WAIT_S", wait_s)
    stale_s = _env_float("SAMSEG_LOCK_STALE_S", stale_s) or STALE_S
    lock.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_identity())
    start, told = time.monotonic(), 0.0
    while not _try_create(lock, text):
        found = _read(lock)
        if found is None:
            continue
        seen, holder = found
        reason = stale_reason(lock, holder, stale_s) if holder else _unwritten(lock, stale_s)
        if reason:
            print(f"{lock}: taking over a stale lock ({reason})", file=sys.stderr)
            _take_over(lock, seen)
            continue
        waited = time.monotonic() - start
        if wait_s is not None and waited >= wait_s:
            raise CellBusyError(f"{lock.parent} ({lock.stem}) is being written by "
                                f"{_describe(holder)}; wait for it to end or stop it first")
        if waited >= told:
            print(f"{lock}: waiting for {_describe(holder)}, which writes this cell",
                  file=sys.stderr, flush=True)
            told = waited + 60
        time.sleep(POLL_S)
    return text


def _unwritten(lock: Path, stale_s: float) -> str | None:
    """An empty lock (its creator died before writing it) is stale after a short grace time."""
    with suppress(FileNotFoundError):
        if time.time() - lock.stat().st_mtime > min(stale_s, 10.0):
            return "empty lock file"
    return None


def _env_float(name: str, given: float | None) -> float | None:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else given


def release(lock: Path, text: str) -> None:
    """Remove ``lock`` if this process still holds it."""
    found = _read(lock)
    if found is not None and found[0] == text:
        lock.unlink(missing_ok=True)


def _heartbeat(lock: Path, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        with suppress(FileNotFoundError):
            os.utime(lock)


@contextmanager
def held(lock: Path, wait_s: float | None = None, stale_s: float | None = None,
         heartbeat_s: float = HEARTBEAT_S) -> Iterator[None]:
    """Hold ``lock`` for the block, refreshing its mtime in the background."""
    text = acquire(lock, wait_s, stale_s)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(lock, stop, heartbeat_s), daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        release(lock, text)
