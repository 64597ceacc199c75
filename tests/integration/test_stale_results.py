"""No stale number after a fault (issue 19 items 1-3): a forced or failed upstream stage
invalidates what was derived from it, and a report shows only current results.

One good run of a one-cell grid (synthetic_bus, resnet_seg tiny, one step) is copied for each
case. A stage is caught mid-run deterministically: the test holds the cell's predict lock
(:mod:`benchmarks.runs.cell_lock`), so the predict process started by Snakemake waits there, and is
killed (or its driver is) while it waits.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from benchmarks.runs import cell_lock, status
from tests.conftest import REPO
from tests.integration.test_dryrun import _env, run_grid, snakemake

CELL = "dataset=synthetic_bus/method=resnet_seg/backbone=resnet18/prompt=none/fold=0/seed=0"
NEEDS = {"gpu": 0, "mem_gb": 2, "runtime_min": 10}
GRID = {
    "datasets": {"synthetic_bus": {"loader": "synthetic_bus", "root": "results/data/synthetic_bus",
                                   "generate": "bus", "n_cases": 6,
                                   "overrides": ["dataset.n_folds=2"]}},
    "methods": {"resnet_seg": {"backbones": ["resnet18"],
                               "overrides": ["method.variant=tiny", "method.image_size=32",
                                             "method.max_steps=1", "method.batch_size=2"],
                               "resources": {"train": NEEDS, "predict": NEEDS,
                                             "throughput": NEEDS}}},
    "throughput": {"overrides": ["warmup=1", "iters=1", "batch_iters=1", "max_batch=1"]},
    "folds": [0],
    "seeds": [0],
}


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The grid run to the end once; each test works on a copy (mtimes and metadata kept)."""
    return run_grid(tmp_path_factory.mktemp("good"), GRID)


@pytest.fixture()
def workdir(good_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(good_run, copy, symlinks=True)
    return copy


def _cell(workdir: Path) -> Path:
    return workdir / "results" / "runs" / CELL


def _wait_for(predicate: Callable[[], bool], timeout: float = 180.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("condition not reached")
        time.sleep(0.2)


def _stage_pids(workdir: Path, stage: str) -> list[int]:
    """Pids of the ``benchmarks.cli <stage>`` processes writing into ``workdir``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except (OSError, ValueError):
            continue
        if b"benchmarks.cli" in argv and stage.encode() in argv and cwd == str(workdir):
            pids.append(int(proc.name))
    return pids


def _start(workdir: Path, *args: str) -> subprocess.Popen:
    cmd = ["snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"), "--directory",
           str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "2",
           "--keep-going", "--rerun-incomplete", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_env(), start_new_session=True)


def _predict_waiting(workdir: Path) -> Callable[[], bool]:
    log = workdir / "results" / "logs" / CELL / "predict.log"
    return lambda: log.exists() and "waiting for" in log.read_text()


def _rerun(workdir: Path) -> str:
    proc = snakemake(workdir, yaml.safe_load((workdir / "config.yaml").read_text()),
                     "--cores", "2", "--rerun-incomplete")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _current(workdir: Path) -> None:
    """The cell's metrics are newer than its predictions, and a dry run has nothing to do."""
    cell = _cell(workdir)
    assert (cell / "evaluate" / "metrics.csv").stat().st_mtime >= \
        (cell / "predict" / "predictions.npz").stat().st_mtime
    plan = snakemake(workdir, yaml.safe_load((workdir / "config.yaml").read_text()), "-n",
                     "--cores", "1")
    assert "Nothing to be done" in plan.stdout + plan.stderr, plan.stdout[-2000:]


def test_killed_predict_job_is_remade_by_the_next_run(workdir: Path) -> None:
    lock = status.lock_path(workdir / "results", CELL, "predict")
    with cell_lock.held(lock):
        driver = _start(workdir, "--forcerun", "predict_cases")
        _wait_for(_predict_waiting(workdir))
        (pid,) = _stage_pids(workdir, "predict")
        os.kill(pid, signal.SIGKILL)  # kill -9 of the predict job while it runs
        out, _ = driver.communicate(timeout=300)
    assert driver.returncode != 0, out[-2000:]
    cell = _cell(workdir)
    assert not (cell / "predict" / "predictions.npz").exists()  # Snakemake removed them
    assert not (cell / "evaluate" / "metrics.csv").exists(), "old metrics kept as if current"
    summary = pd.read_csv(workdir / "results" / "summary" / "summary.csv")
    assert summary.empty  # the partial report shows no number of the killed cell
    log = _rerun(workdir)
    assert "predict_cases" in log and "evaluate_predictions" in log
    _current(workdir)


def _lock_holder(lock: Path) -> int | None:
    try:
        return int(json.loads(lock.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def test_driver_killed_during_predict_first_rerun_is_right(workdir: Path) -> None:
    lock = status.lock_path(workdir / "results", CELL, "predict")
    with cell_lock.held(lock):
        driver = _start(workdir, "--forcerun", "predict_cases")
        _wait_for(_predict_waiting(workdir))
        (orphan,) = _stage_pids(workdir, "predict")
        driver.send_signal(signal.SIGKILL)  # kill -9 of snakemake; its job lives on
        driver.wait()
    try:
        # the orphan takes the lock; it is stopped there, mid-stage, until the rerun is planned
        _wait_for(lambda: _lock_holder(lock) == orphan, timeout=60)
        os.kill(orphan, signal.SIGSTOP)
        unlock = snakemake(workdir, yaml.safe_load((workdir / "config.yaml").read_text()),
                           "--unlock")
        assert unlock.returncode == 0, unlock.stderr[-2000:]
        rerun = _start(workdir)
        waits = f"waiting for host {socket.gethostname()} pid {orphan}"
        log = workdir / "results" / "logs" / CELL / "predict.log"
        _wait_for(lambda: (log.exists() and waits in log.read_text()) or rerun.poll() is not None)
    finally:
        os.kill(orphan, signal.SIGCONT)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out[-3000:]
    _wait_for(lambda: not _stage_pids(workdir, "predict"))
    assert "predict_cases" in out and "evaluate_predictions" in out, out[-3000:]
    _current(workdir)  # the first rerun is right, not only the second


def test_failed_train_drops_the_cell_and_its_provenance_from_the_partial_report(
        workdir: Path) -> None:
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["methods"]["resnet_seg"]["overrides"].append("method.batch_size=two")  # train fails
    proc = snakemake(workdir, config, "--cores", "2", "--keep-going")
    assert proc.returncode != 0
    summary_dir = workdir / "results" / "summary"
    assert pd.read_csv(summary_dir / "summary.csv").empty  # no number of a model that is gone
    table = pd.read_csv(summary_dir / "status.csv")
    missing = table[table["state"] == "missing"]
    assert missing["cell"].tolist() == [CELL]
    assert missing["reason"].iloc[0].startswith("train failed: ")
    provenance = pd.read_csv(summary_dir / "provenance.csv")
    assert CELL not in set(provenance.get("cell", []))  # remade by the failure path too
    html = (workdir / "results" / "report" / "report.html").read_text()
    assert f"Under-trained: {CELL}" not in html


def test_killed_train_job_drops_the_cell_and_the_next_run_remakes_it(workdir: Path) -> None:
    lock = status.lock_path(workdir / "results", CELL, "train")
    with cell_lock.held(lock):
        driver = _start(workdir, "--forcerun", "train_model")
        log = workdir / "results" / "logs" / CELL / "train.log"
        _wait_for(lambda: log.exists() and "waiting for" in log.read_text())
        (pid,) = _stage_pids(workdir, "train")
        os.kill(pid, signal.SIGKILL)
        out, _ = driver.communicate(timeout=300)
    assert driver.returncode != 0, out[-2000:]
    cell = _cell(workdir)
    assert not (cell / "train" / "model.pt").exists()
    assert not (cell / "predict" / "predictions.npz").exists()  # made by the model that is gone
    assert not (cell / "evaluate" / "metrics.csv").exists()
    assert pd.read_csv(workdir / "results" / "summary" / "summary.csv").empty
    log_text = _rerun(workdir)
    for rule in ("train_model", "predict_cases", "evaluate_predictions", "render_report"):
        assert rule in log_text, log_text[-3000:]
    _current(workdir)


def test_killed_report_job_is_remade_by_the_next_run(workdir: Path) -> None:
    driver = _start(workdir, "--forcerun", "render_report")
    _wait_for(lambda: bool(_stage_pids(workdir, "report")) or driver.poll() is not None)
    (pid,) = _stage_pids(workdir, "report")
    os.kill(pid, signal.SIGKILL)
    out, _ = driver.communicate(timeout=300)
    assert driver.returncode != 0, out[-2000:]
    # the failure path may have written a partial report, never the rule's own sentinel
    assert not (workdir / "results" / "report" / "report.done").exists()
    assert "render_report" in _rerun(workdir)
    assert (workdir / "results" / "report" / "report.done").exists()
    _current(workdir)
