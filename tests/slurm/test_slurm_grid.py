"""The demo grid on a real Slurm cluster (.ci/slurm/start.sh), against a local run of the same grid.

One Slurm run serves all tests: ``snakemake --profile profiles/slurm --profile profiles/slurm-ci``
on a copy of the repository with a shortened demo config. While it runs, the first training job
that has recorded ``running`` is cancelled with ``scancel``; the CI profile's ``retries: 1`` must
resubmit it with doubled runtime and memory, and its status must keep the killed attempt.
Skipped (with the reason) unless ``sinfo`` answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv that runs pytest also runs snakemake and the jobs
SHRINK = {"method.max_steps": "8", "method.max_epochs": "2"}  # CI-sized training, same grid
RUN_LIMIT_S = 420


def _slurm_answers() -> str | None:
    if shutil.which("sinfo") is None:
        return "no Slurm client (run .ci/slurm/install.sh and .ci/slurm/start.sh as root)"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True,
                             timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: slurmctld not reachable (run .ci/slurm/start.sh)"
    return None if out.returncode == 0 and "up" in out.stdout else f"sinfo: {out.stderr.strip()}"


pytestmark = [pytest.mark.slurm, pytest.mark.slow,
              pytest.mark.skipif(_slurm_answers() is not None, reason=str(_slurm_answers()))]


def tiny_config() -> dict:
    """The demo config.yaml with shorter training and fewer synthetic cases."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["datasets"]["synthetic_bus"]["n_cases"] = 16
    del config["datasets"]["synthetic_ct"]  # the job counts below are for the 2D set only
    # and for the two baselines (the demo's ESAM2-BLS would only lengthen this Slurm test)
    config["methods"] = {m: config["methods"][m] for m in ("resnet_seg", "yolo_seg")}
    for entry in config["methods"].values():
        entry["overrides"] = [
            f"{key}={SHRINK[key]}" if (key := item.split("=", 1)[0]) in SHRINK else item
            for item in entry["overrides"]]
    return config


def make_workdir(dest: Path) -> Path:
    """A copy of the repository (no results, venv or git) with the tiny config."""
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(
        ".venv", ".git", "results", ".snakemake", ".*cache", "__pycache__", "checkpoints"))
    (dest / "results").mkdir()
    (dest / "config.yaml").write_text(yaml.safe_dump(tiny_config(), sort_keys=False))
    return dest


def snakemake(workdir: Path, *args: str, watcher=None) -> tuple[float, str]:
    """Run Snakemake under ``timeout -k`` (a polling problem shows up as a hang, not an error)."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    log = workdir / "snakemake.out"
    cmd = ["timeout", "-k", "15", str(RUN_LIMIT_S), str(BIN / "snakemake"), *args]
    start = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
        thread = threading.Thread(target=watcher, args=(workdir, proc), daemon=True)
        if watcher:
            thread.start()
        proc.wait()
    seconds = time.monotonic() - start
    text = log.read_text()
    assert proc.returncode == 0, f"snakemake exited {proc.returncode}:\n{text[-4000:]}"
    return seconds, text


def cancel_first_running_train(workdir: Path, proc: subprocess.Popen, found: dict) -> None:
    """scancel the first train job once its stage record says ``running`` (mid-training)."""
    while proc.poll() is None:
        for path in (workdir / "results" / "status").rglob("train.json"):
            entry = json.loads(path.read_text())
            if entry["state"] == "running" and entry.get("slurm_job_id"):
                found.update(job=entry["slurm_job_id"], cell=entry["cell"])
                subprocess.run(["scancel", entry["slurm_job_id"]], check=True, timeout=30)
                return
        time.sleep(0.5)


def metrics_table(workdir: Path) -> pd.DataFrame:
    """Every cell's per-case metrics, in a fixed order."""
    frames = []
    for path in sorted((workdir / "results" / "runs").rglob("evaluate/metrics.csv")):
        frames.append(pd.read_csv(path).assign(cell=str(path.parent.parent.relative_to(workdir))))
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(list(table.columns)).reset_index(drop=True)


def jobcomp() -> dict[str, dict[str, str]]:
    """Slurm's completion record (jobcomp/filetxt), by job id."""
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                            check=True, timeout=30).stdout
    location = re.search(r"^JobCompLoc\s*=\s*(\S+)", config, re.M).group(1)
    records = {}
    for line in Path(location).read_text().splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        records[fields["JobId"]] = fields
    return records


def cancel_jobs_under(root: Path) -> list[str]:
    """scancel every queued or running job whose working directory lies under ``root``."""
    queue = subprocess.run(["squeue", "-h", "-o", "%i %Z"], capture_output=True, text=True,
                           check=True, timeout=30).stdout
    ids = [job for job, workdir in (line.split(None, 1) for line in queue.splitlines())
           if workdir.startswith(str(root))]
    if ids:
        subprocess.run(["scancel", *ids], check=False, timeout=30)
    return ids


@pytest.fixture(scope="module", autouse=True)
def no_job_left_behind(tmp_path_factory):
    """A failed or timed-out test (``timeout`` kills ``sbatch --wait``, not the job) left its
    driver job running, holding the one-node cluster for every later Slurm run."""
    yield
    left = cancel_jobs_under(tmp_path_factory.getbasetemp())
    if left:
        print(f"\ncancelled jobs left by this module: {left}")


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    """One copy of the working tree, so both runs use the same code even while it is edited."""
    return make_workdir(tmp_path_factory.mktemp("snapshot") / "repo")


@pytest.fixture(scope="module")
def slurm_run(snapshot, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm") / "repo"
    shutil.copytree(snapshot, workdir)
    killed: dict = {}
    seconds, text = snakemake(workdir, "--profile", "profiles/slurm", "--profile",
                              "profiles/slurm-ci", "--verbose",
                              watcher=lambda w, p: cancel_first_running_train(w, p, killed))
    return {"workdir": workdir, "seconds": seconds, "log": text, "killed": killed}


@pytest.fixture(scope="module")
def local_run(snapshot, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("local") / "repo"
    shutil.copytree(snapshot, workdir)
    seconds, text = snakemake(workdir, "--profile", "profiles/local", "--cores", "2")
    return {"workdir": workdir, "seconds": seconds, "log": text}


def megabytes(size: str) -> float:
    """Slurm's ``3G`` / ``3072M`` as megabytes."""
    return float(size[:-1]) * {"M": 1, "G": 1024, "T": 1024**2}[size[-1]]


def submitted_ids(log: str) -> list[str]:
    return re.findall(r"submitted with SLURM jobid (\d+)", log)


def test_jobs_went_through_slurm(slurm_run) -> None:
    ids = submitted_ids(slurm_run["log"])
    records = jobcomp()
    # make_data, make_split, 2 x (train, predict, evaluate, measure_throughput), plus the
    # resubmitted train job
    assert len(ids) == 11, ids
    assert all(job in records for job in ids)
    states = [records[job]["JobState"] for job in ids]
    assert states.count("CANCELLED") == 1 and states.count("COMPLETED") == 10, states
    assert (slurm_run["workdir"] / "results" / "report" / "report.html").stat().st_size > 0
    print(f"\nslurm run: {slurm_run['seconds']:.1f} s, {len(ids)} sbatch submissions")


def test_results_equal_a_local_run(slurm_run, local_run) -> None:
    pd.testing.assert_frame_equal(metrics_table(slurm_run["workdir"]),
                                  metrics_table(local_run["workdir"]))
    print(f"\nlocal run: {local_run['seconds']:.1f} s, slurm run: {slurm_run['seconds']:.1f} s")


def test_cancelled_job_is_retried_with_scaled_resources_and_recorded(slurm_run) -> None:
    from benchmarks.runs import status

    killed = slurm_run["killed"]
    assert killed, "no training job was seen running; nothing was cancelled"
    workdir = slurm_run["workdir"]
    entry = json.loads(status.status_path(workdir / "results", killed["cell"], "train")
                       .read_text())
    (first,) = entry["history"]
    assert first["slurm_job_id"] == killed["job"]
    assert first["state"] == "failed" and "CANCELLED" in first["reason"]
    assert entry["state"] == "done" and entry["slurm_job_id"] != killed["job"]
    records = jobcomp()
    before, after = records[killed["job"]], records[entry["slurm_job_id"]]
    assert (before["JobState"], after["JobState"]) == ("CANCELLED", "COMPLETED")
    assert int(after["TimeLimit"]) == 2 * int(before["TimeLimit"])  # runtime x attempt
    mem = [megabytes(re.search(r"mem=([\d.]+[MGT])", r["Tres"]).group(1)) for r in (before, after)]
    assert mem[1] == 2 * mem[0]  # mem_mb x attempt
    sbatch = [line for line in slurm_run["log"].splitlines()
              if "sbatch call:" in line and "rule_train_model" in line]
    print("\n" + "\n".join(sbatch) + f"\njobcomp: {before}\njobcomp: {after}")


def test_submit_reruns_one_cell_on_slurm(slurm_run) -> None:
    from benchmarks.runs import grid

    workdir = slurm_run["workdir"]
    cell = grid.parse_path(next((workdir / "results" / "runs").rglob("method=resnet_seg/*/*/*/*")))
    metrics = workdir / "results" / "runs" / cell.path / "evaluate" / "metrics.csv"
    before = metrics.stat().st_mtime
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    proc = subprocess.run(
        ["timeout", "-k", "15", str(RUN_LIMIT_S), str(BIN / "python"), "-m", "benchmarks.cli",
         "submit", "--cell", cell.path, "--cluster", "slurm", "--partition", "debug"],
        cwd=workdir, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job_id = re.search(r": job (\d+) COMPLETED", proc.stdout).group(1)
    assert jobcomp()[job_id]["JobState"] == "COMPLETED"
    assert metrics.stat().st_mtime > before  # the cell ran again
    assert proc.stdout.splitlines()[1:] == ["  train     done", "  predict   done",
                                            "  evaluate  done"]
    print("\n" + proc.stdout)


def test_sbatch_wrapper_drives_the_grid_from_a_slurm_job(slurm_run) -> None:
    """workflow/run_grid.sbatch as a Slurm job whose Snakemake submits the grid's jobs itself."""
    workdir = slurm_run["workdir"]
    outputs = sorted((workdir / "results" / "runs").rglob("evaluate/metrics.csv"))
    before = [path.stat().st_mtime for path in outputs]
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "SAMSEG_SDM": "none"}
    proc = subprocess.run(
        ["timeout", "-k", "15", str(RUN_LIMIT_S), "sbatch", "--wait", "--parsable", "--mem=2G",
         "workflow/run_grid.sbatch", "--", "--profile", "profiles/slurm-ci",
         "--forcerun", "evaluate_predictions"],
        cwd=workdir, env=env, capture_output=True, text=True, check=False)
    driver = proc.stdout.strip().split(";")[0]
    log = (workdir / "results" / f"samseg-grid-{driver}.log").read_text()
    assert proc.returncode == 0, proc.stderr + log[-3000:]
    assert f"driver job {driver} on " in log
    records = jobcomp()
    inner = {job: rec for job, rec in records.items()
             if int(job) > int(driver) and rec["WorkDir"] == str(workdir)}
    assert records[driver]["JobState"] == "COMPLETED"
    # the two evaluate jobs (one array submission when both are ready together)
    assert len(inner) == 2 and {r["JobState"] for r in inner.values()} == {"COMPLETED"}
    assert all(p.stat().st_mtime > t for p, t in zip(outputs, before, strict=True))
    print(f"\nsbatch driver {driver} ran Slurm jobs {sorted(inner)}")
