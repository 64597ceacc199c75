"""Per-cell, per-stage status kept outside the declared outputs.

Snakemake deletes the outputs of a failed job; this record survives it, so the report can list
failures. ``results/status/<cell>/<stage>.json`` holds the latest state of that stage and, under
``history``, every earlier attempt.

A process killed from outside (Slurm's memory or time limit, ``scancel``, SIGKILL) cannot write
its own end, so its record stays ``running``. :func:`resolve` settles such a record from Slurm's
own account of the job (``sacct``, the jobcomp text log through ``sacct -c``, or ``squeue``) and
from the job's Slurm log, where slurmstepd writes "exceeded memory limit" or "DUE TO TIME LIMIT".
That happens when the next attempt starts and whenever :func:`failure_table` reads the records.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.core.io import write_json
from benchmarks.runs import cell_lock

STATES = ("running", "done", "failed", "oom", "timeout", "skipped")
SLURM_LOG_ROOTS = (".snakemake/slurm_logs", "results/slurm")  # plugin logs, `cli submit` logs
_OOM_ERRORS = ("MemoryError", "OutOfMemoryError")  # Python's and torch.cuda's
# Slurm job states that are final, and the stage state each one means
_SLURM_FINAL = {"OUT_OF_MEMORY": "oom", "TIMEOUT": "timeout", "DEADLINE": "timeout",
                "FAILED": "failed", "CANCELLED": "failed", "NODE_FAIL": "failed",
                "PREEMPTED": "failed", "BOOT_FAIL": "failed", "COMPLETED": "failed"}
# what slurmstepd writes into the job's log when it kills it
_LOG_MARKERS = (("exceeded memory limit", "oom"), ("oom-kill", "oom"), ("Out Of Memory", "oom"),
                ("DUE TO TIME LIMIT", "timeout"), ("CANCELLED AT", "failed"))
_OWNER_RE = re.compile(r"^(?P<root>.*)/(?:runs|splits|prompts)/"
                       r"(?P<key>dataset=[^/=]+(?:/[a-z_]+=[^/=]+)*)")
COLUMNS = ["dataset", "method", "backbone", "fold", "seed", "stage", "attempt", "state",
           "final_state", "slurm_job_id", "reason", "time"]


def status_path(results_root: str | Path, cell: str, stage: str) -> Path:
    """Where the status of ``stage`` of ``cell`` (a Hive path) is recorded."""
    return Path(results_root) / "status" / cell / f"{stage}.json"


def lock_path(results_root: str | Path, cell: str, stage: str) -> Path:
    """The lock held by the one process that writes ``stage`` of ``cell``
    (:mod:`benchmarks.runs.cell_lock`)."""
    return status_path(results_root, cell, stage).with_suffix(".lock")


def record(results_root: str | Path, cell: str, stage: str, state: str, **info: Any) -> None:
    """Write the current state of a stage (atomically), keeping earlier attempts in ``history``.

    A ``failed`` stage whose error is a ``MemoryError`` or CUDA ``OutOfMemoryError`` is ``oom``.
    """
    if state not in STATES:
        raise ValueError(f"state {state!r} not in {STATES}")
    if state == "failed" and str(info.get("error", "")).startswith(_OOM_ERRORS):
        state = "oom"
    path = status_path(results_root, cell, stage)
    now = time.time()
    entry = {"cell": cell, "stage": stage, "state": state, "time": now,
             "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
             "attempt": os.environ.get("SNAKEMAKE_ATTEMPT"),
             "host": socket.gethostname(), "pid": os.getpid(), **info}
    previous = read_record(path)
    same = previous is not None and _same_attempt(previous, entry)
    entry["started"] = previous.get("started", now) if same else now  # this attempt's start
    entry["history"] = _history(previous, entry)
    write_json(path, entry)


def read_record(path: str | Path) -> dict[str, Any] | None:
    """The record at ``path``, or ``None`` if there is none."""
    return json.loads(Path(path).read_text()) if Path(path).exists() else None


def _same_attempt(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("host", "pid", "slurm_job_id"))


def _history(previous: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """Earlier attempts: the previous record moves there when ``new`` starts another attempt."""
    if previous is None:
        return []
    history = previous.pop("history", [])
    if _same_attempt(previous, new):
        return history
    return [*history, resolve(previous, dead_if_unknown=True)]


def resolve(entry: dict[str, Any], dead_if_unknown: bool = False) -> dict[str, Any]:
    """Settle a ``running`` record whose process is gone; other records are returned as they are.

    Args:
        entry: one attempt's record.
        dead_if_unknown: the caller knows the attempt is over (a newer attempt started), so a
            record that no source can settle becomes ``failed`` instead of staying ``running``.
    """
    if entry.get("state") != "running":
        return entry
    job = entry.get("slurm_job_id")
    outcome = slurm_outcome(str(job)) if job else _local_outcome(entry)
    alive_here = entry.get("host") == socket.gethostname() and cell_lock.alive_here(entry)
    if outcome is None and dead_if_unknown and not alive_here:  # never mark a live process
        outcome = ("failed", "ended without recording a result (killed from outside?)")
    if outcome is None:
        return entry
    state, reason = outcome
    return {**entry, "state": state, "reason": reason, "resolved_at": time.time()}


def _local_outcome(entry: dict[str, Any]) -> tuple[str, str] | None:
    """A local process that is gone without a record was killed (no way to tell why)."""
    if entry.get("host") != socket.gethostname() or not entry.get("pid"):
        return None
    if cell_lock.alive_here(entry):
        return None
    return "failed", f"process {entry['pid']} ended without recording a result (killed?)"


def slurm_outcome(job_id: str, log_roots: tuple[str, ...] = SLURM_LOG_ROOTS
                  ) -> tuple[str, str] | None:
    """(stage state, reason) of a finished Slurm job, or ``None`` while it runs or is unknown."""
    slurm_state = slurm_job_state(job_id)
    if slurm_state is None:
        return None
    base = slurm_state.split()[0].rstrip("+")
    if base not in _SLURM_FINAL:
        return None  # PENDING, RUNNING, COMPLETING, ...
    state = _SLURM_FINAL[base]
    log = find_slurm_log(job_id, log_roots)
    marker = log_marker(log.read_text(errors="replace")) if log else None
    if marker and (state == "failed" or marker[1] == state):
        state = marker[1]
    reason = f"Slurm job {job_id}: {slurm_state}"
    if marker:
        reason += f"; log {log}: {marker[0]!r}"
    return state, reason


def slurm_job_state(job_id: str) -> str | None:
    """Slurm's state for a job from accounting, the jobcomp log or the controller's memory."""
    queries = (["sacct", "-X", "-n", "-P", "-j", job_id, "-o", "State"],
               ["sacct", "-c", "-n", "-P", "-j", job_id, "-o", "State"],
               ["squeue", "-h", "--states=all", "-j", job_id, "-o", "%T"])
    for cmd in queries:
        if shutil.which(cmd[0]) is None:
            continue
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
        except subprocess.TimeoutExpired:
            continue
        lines = [line.strip() for line in out.stdout.splitlines() if line.strip()]
        if out.returncode == 0 and lines:
            return lines[-1]  # sacct -c lists every record of the id; the last one is current
    return None


def find_slurm_log(job_id: str, roots: tuple[str, ...] = SLURM_LOG_ROOTS) -> Path | None:
    """The Snakemake plugin's ``<jobid>.log`` or a submitit ``<jobid>_*`` log, if kept."""
    for root in map(Path, roots):
        if root.is_dir():
            for pattern in (f"{job_id}.log", f"{job_id}_*.err", f"{job_id}_*.out"):
                found = sorted(root.rglob(pattern))
                if found:
                    return found[0]
    return None


def log_marker(text: str) -> tuple[str, str] | None:
    """The first kill marker slurmstepd wrote into a job log, as (marker, stage state)."""
    for marker, state in _LOG_MARKERS:
        if marker in text:
            return marker, state
    return None


def collect(results_root: str | Path) -> list[dict[str, Any]]:
    """Every stage record under ``results_root/status``, settled and written back if it changed."""
    records = []
    for path in sorted((Path(results_root) / "status").rglob("*.json")):
        entry = read_record(path)
        settled = resolve(entry)
        if settled is not entry:
            write_json(path, settled)
        records.append(settled)
    return records


def attempts(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per attempt of a stage record, earliest first; the last row is the latest state.

    ``state`` is that attempt's end (done / failed / oom / timeout, or running if still unknown);
    ``final_state`` is the stage's latest state, so a retried-and-recovered attempt shows as
    ``state=oom, final_state=done``.
    """
    history = [*entry.get("history", []), entry]
    return [{"cell": entry["cell"], "stage": entry["stage"],
             "attempt": int(attempt.get("attempt") or number), "state": attempt["state"],
             "final_state": entry["state"], "slurm_job_id": attempt.get("slurm_job_id"),
             "reason": attempt.get("reason") or attempt.get("error"), "time": attempt.get("time")}
            for number, attempt in enumerate(history, start=1)]


def key_columns(key: str) -> dict[str, Any]:
    """The grid columns of a record key: a cell, or ``dataset=<id>[/protocol=…/seed=…]`` of a
    split or prompts record (the other columns are then empty)."""
    from benchmarks.runs import grid

    try:
        return grid.parse_path(key).__dict__
    except grid.GridError:
        pairs = dict(part.split("=", 1) for part in key.split("/") if "=" in part)
        return {name: pairs.get(name) for name in COLUMNS[:5]}


def owner(path: str | Path) -> tuple[Path, str] | None:
    """(results root, record key) of a stage's output path, or ``None`` outside a results tree.

    The key is the cell for ``<root>/runs/<cell>/…``, ``dataset=<id>`` for a split file and
    ``dataset=<id>/protocol=<p>/seed=<s>`` for a prompts file, so that split and prompt failures,
    which no cell records, are kept too.
    """
    match = _OWNER_RE.search(Path(path).resolve().as_posix())
    return None if match is None else (Path(match["root"]), match["key"])


def failure_table(results_root: str | Path) -> pd.DataFrame:
    """One row per attempt that did not end ``done``: what failed, how, and how it ended.

    Columns as :func:`attempts`, the cell split into its grid columns. Empty (with the columns)
    when nothing failed.
    """
    rows = [{**key_columns(row["cell"]), **row} for entry in collect(results_root)
            for row in attempts(entry) if row["state"] != "done"]
    return pd.DataFrame(rows, columns=COLUMNS)
