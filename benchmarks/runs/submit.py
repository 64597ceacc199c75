"""Rerun one grid cell on the cluster with submitit, and report how it ended.

The grid itself goes through Snakemake's Slurm executor (profiles/slurm). This is for one cell:
a single Slurm job that runs Snakemake *locally inside the allocation* for that cell's targets,
forcing its train/predict/evaluate rules, so the same rules, params and status records are used.
The job asks for the largest GPU and memory need of the cell's stages and the sum of their
runtimes (card.yaml or config.yaml ``resources:``). Submit from a login node, never from a job.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.core import REPO_ROOT, registry
from benchmarks.runs import grid, status

STAGES = {"train": "train_model", "predict": "predict_cases", "evaluate": "evaluate_predictions"}
LOG_ROOT = Path("results/slurm/submitit")  # status.SLURM_LOG_ROOTS looks here for kill markers
_ACTIVE = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED")


def stage_needs(config: dict[str, Any], method: str, stage: str) -> dict[str, float]:
    """``{gpu, runtime_min, mem_gb}`` of one stage: config.yaml's override, else the card's."""
    custom = ((config["methods"].get(method) or {}).get("resources") or {}).get(stage, {})
    card = registry.read_card(method)["resources"][stage]
    return {key: custom.get(key, card[key]) for key in ("gpu", "runtime_min", "mem_gb")}


def cell_needs(config: dict[str, Any], run: grid.Run) -> dict[str, int]:
    """One allocation for the whole cell: max GPUs and memory, summed runtime."""
    needs = [stage_needs(config, run.method, stage) for stage in STAGES]
    return {"gpus": int(max(n["gpu"] for n in needs)),
            "mem_gb": int(max(n["mem_gb"] for n in needs) + 1),  # + Snakemake itself
            "timeout_min": int(sum(n["runtime_min"] for n in needs) + 5)}


def snakemake_command(run: grid.Run, workdir: Path, configfile: Path, cores: int) -> list[str]:
    """Snakemake for the targets of one cell, forcing its three stages to run again."""
    target = f"{grid.RUN_ROOT}/{run.path}/evaluate/metrics.csv"
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO_ROOT / "workflow/Snakefile"),
            "--directory", str(workdir), "--configfile", str(configfile), "--cores", str(cores),
            "--rerun-incomplete", "--forcerun", *STAGES.values(), "--", target]


def run_cell(workdir: str, command: list[str]) -> int:
    """What the Slurm job executes (module-level, so submitit can pickle it)."""
    return subprocess.run(command, cwd=workdir, check=True).returncode


def submit(configfile: Path, run: grid.Run, cluster: str | None = None,
           workdir: Path = REPO_ROOT, cpus: int = 2, **slurm: Any) -> Any:
    """Submit one cell; ``cluster`` is submitit's (``slurm``, ``local``, ``debug``, or auto).

    ``slurm`` holds extra ``slurm_*`` parameters (``slurm_partition``, ``slurm_account``).
    """
    import submitit
    import yaml

    config = yaml.safe_load(Path(configfile).read_text())
    runs, _ = grid.expand(config)
    if run not in runs:
        raise ValueError(f"cell {run.path} is not a runnable cell of {configfile} "
                         f"(see results/summary/skipped.tsv for skipped cells)")
    needs = cell_needs(config, run)
    executor = submitit.AutoExecutor(folder=Path(workdir) / LOG_ROOT / "%j", cluster=cluster)
    executor.update_parameters(name=f"cell_{run.method}_{run.dataset}", cpus_per_task=cpus,
                               gpus_per_node=needs["gpus"], mem_gb=needs["mem_gb"],
                               timeout_min=needs["timeout_min"], **slurm)
    command = snakemake_command(run, Path(workdir).resolve(), Path(configfile).resolve(), cpus)
    return executor.submit(run_cell, str(workdir), command)


def wait(job: Any, poll_s: float = 2.0, timeout_s: float | None = None) -> str:
    """Wait for a job and return its final state.

    On Slurm the state comes from :func:`status.slurm_job_state` (sacct, then the jobcomp log,
    then squeue), because submitit asks plain ``sacct`` only and reports ``UNKNOWN`` forever on a
    cluster without accounting. Other executors report through submitit.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while deadline is None or time.monotonic() < deadline:
        if type(job).__name__ != "SlurmJob":
            try:
                job.result()
            except Exception as err:  # the cell failed; its status records say where
                print(f"job {job.job_id} failed: {type(err).__name__}: {err}", file=sys.stderr)
                return "FAILED"
            return "COMPLETED"
        state = status.slurm_job_state(str(job.job_id))
        if state and state.split()[0].rstrip("+") not in _ACTIVE:
            return state
        time.sleep(poll_s)
    raise TimeoutError(f"job {job.job_id} still active after {timeout_s} s")


def report(results_root: str | Path, run: grid.Run, job_id: str, state: str) -> str:
    """A few lines: the job's end and each stage record of the cell (settled if killed)."""
    lines = [f"cell {run.path}: job {job_id} {state}"]
    for stage in STAGES:
        path = status.status_path(results_root, run.path, stage)
        entry = status.resolve(status.read_record(path) or {"state": "not started"})
        reason = entry.get("reason") or entry.get("error") or ""
        lines.append(f"  {stage:<9} {entry['state']:<8} {reason}".rstrip())
    return "\n".join(lines)
