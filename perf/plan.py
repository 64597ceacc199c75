"""Planning cost of the real workflow against a bare Snakefile with the same jobs, side by side.

Run: ``.venv/bin/python perf/plan.py [--datasets 10 --folds 5 --seeds 9]``. The grid config uses
the demo's synthetic loader under ``--datasets`` ids and every backbone of both baselines, so with
the defaults it has 10 x 8 x 5 x 9 = 3,600 cells (over 10,800 jobs). The bare Snakefile has the same
rules, wildcards, input/output/log/benchmark paths and job count, but no Python: no config
validation, params, resources, threads or containers, and ``touch`` as every command. Both are
planned with ``snakemake -n --quiet`` (nothing built, no job list printed) three times, in
alternation so that drift in machine load hits both; the table gives each run's wall time, the
median, ms per job and the ratio. Job counts are checked once per workflow with ``-n`` beforehand.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.core import registry  # noqa: E402
from benchmarks.runs import grid, throughput_plan  # noqa: E402

BARE = '''
import yaml
CELLS = [line.split("\\t") for line in open("cells.tsv").read().split("\\n")[1:] if line]
DATASETS = sorted({c[0] for c in CELLS})
CELL = ("results/runs/dataset={dataset}/method={method}/backbone={backbone}"
        "/prompt={prompt}/fold={fold}/seed={seed}")
BENCH = CELL.replace("results/runs", "results/benchmarks")
LOG = CELL.replace("results/runs", "results/logs")
PATHS = ["dataset=%s/method=%s/backbone=%s/prompt=%s/fold=%s/seed=%s" % tuple(c) for c in CELLS]
SPLIT = "results/splits/dataset={dataset}/split.json"

wildcard_constraints:
    dataset="|".join(DATASETS), method=r"[a-z0-9_]+", backbone=r"[a-z0-9_]+",
    fold=r"\\d+", seed=r"\\d+", prompt=r"[a-z0-9]+", size=r"\\d+|native",

rule all:
    input: "results/report/report.html",

rule make_data:
    output: "results/data/{dataset}/cases.csv",
    log: "results/logs/make_data/{dataset}.log",
    shell: "touch {output} {log}"

rule make_split:
    input: "results/data/{dataset}/cases.csv",
    output: SPLIT,
    log: "results/logs/make_split/{dataset}.log",
    shell: "touch {output} {log}"

rule train_model:
    input: split=SPLIT,
    output: model=f"{CELL}/train/model.pt", provenance=f"{CELL}/train/provenance.json",
            log=f"{CELL}/train/train_log.csv", config=f"{CELL}/train/config.resolved.yaml",
    log: f"{LOG}/train.log",
    benchmark: f"{BENCH}/train.tsv"
    shell: "touch {output} {log}"

rule predict_cases:
    input: split=SPLIT, model=f"{CELL}/train/model.pt",
    output: masks=f"{CELL}/predict/predictions.npz", cases=f"{CELL}/predict/cases.csv",
    log: f"{LOG}/predict.log",
    benchmark: f"{BENCH}/predict.tsv"
    shell: "touch {output} {log}"

rule evaluate_predictions:
    input: split=SPLIT, masks=f"{CELL}/predict/predictions.npz", cases=f"{CELL}/predict/cases.csv",
           provenance=f"{CELL}/train/provenance.json", trained=f"{CELL}/train/config.resolved.yaml",
    output: f"{CELL}/evaluate/metrics.csv",
    log: f"{LOG}/evaluate.log",
    benchmark: f"{BENCH}/evaluate.tsv"
    shell: "touch {output} {log}"

rule aggregate_results:
    input: cells="cells.tsv", metrics=[f"results/runs/{p}/evaluate/metrics.csv" for p in PATHS],
    output: "results/summary/metrics.csv", "results/summary/summary.csv",
            "results/summary/jobs.csv", "results/summary/status.csv",
    log: "results/logs/aggregate_results.log",
    shell: "touch {output} {log}"

rule summarize_provenance:
    input: cells="cells.tsv", provenance=[f"results/runs/{p}/train/provenance.json" for p in PATHS],
    output: "results/summary/provenance.csv",
    log: "results/logs/summarize_provenance.log",
    shell: "touch {output} {log}"

rule measure_throughput:
    output: "results/throughput/method={method}/backbone={backbone}/size={size}/throughput.csv",
    log: "results/logs/throughput/method={method}/backbone={backbone}/size={size}.log",
    shell: "touch {output} {log}"

rule summarize_throughput:
    input: open("throughput.txt").read().split(),
    output: "results/summary/throughput.csv",
    log: "results/logs/summarize_throughput.log",
    shell: "touch {output} {log}"

rule render_report:
    input: rules.aggregate_results.output, rules.summarize_provenance.output,
           rules.summarize_throughput.output,
    output: "results/report/report.html",
    log: "results/logs/render_report.log",
    shell: "touch {output} {log}"
'''


def grid_config(n_datasets: int, folds: int, seeds: int) -> dict:
    """Synthetic 2D datasets x every backbone of both baselines x folds x seeds."""
    datasets = {f"bus{i:02d}": {"loader": "synthetic_bus", "generate": "bus",
                                "root": f"results/data/bus{i:02d}"} for i in range(n_datasets)}
    methods = {m: {"backbones": registry.read_card(m)["backbones"]}
               for m in ("resnet_seg", "yolo_seg")}
    return {"datasets": datasets, "methods": methods, "folds": list(range(folds)),
            "seeds": list(range(seeds))}


def job_count(stdout: str) -> int:
    return int(re.search(r"^total\s+(\d+)$", stdout, re.M)[1])


def snakemake(workdir: Path, snakefile: Path, *args: str) -> tuple[float, str]:
    cmd = [str(REPO / ".venv" / "bin" / "snakemake"), "--snakefile", str(snakefile),
           "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
           "--cores", "1", "-n", *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return time.perf_counter() - start, proc.stdout


def setup(root: Path, config: dict) -> dict[str, tuple[Path, Path]]:
    """Two working directories with the same config and cell list; {name: (workdir, Snakefile)}."""
    runs, _ = grid.expand(config)
    dirs = {}
    for name, snakefile in (("ours", REPO / "workflow" / "Snakefile"), ("bare", root / "bare.smk")):
        workdir = root / name
        workdir.mkdir()
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        (workdir / "cells.tsv").write_text("".join(  # the bare workflow's list of cells
            "\t".join(map(str, row)) + "\n" for row in
            [("dataset", "method", "backbone", "prompt", "fold", "seed")]
            + [(r.dataset, r.method, r.backbone, r.prompt, r.fold, r.seed) for r in runs]))
        (workdir / "throughput.txt").write_text("\n".join(throughput_plan.targets(config)))
        dirs[name] = (workdir, snakefile)
    (root / "bare.smk").write_text(BARE)
    return dirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=9)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plan-") as tmp:
        dirs = setup(Path(tmp), grid_config(args.datasets, args.folds, args.seeds))
        jobs = {name: job_count(snakemake(*dirs[name])[1]) for name in dirs}
        print(f"jobs: ours {jobs['ours']}, bare {jobs['bare']}")
        if jobs["ours"] != jobs["bare"]:
            sys.exit("job counts differ: the bare Snakefile no longer mirrors the workflow")
        times: dict[str, list[float]] = {name: [] for name in dirs}
        for _ in range(args.repeats):
            for name in dirs:
                times[name].append(snakemake(*dirs[name], "--quiet")[0])
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"{'workflow':<9}{'runs (s)':<26}{'median s':>9}{'ms/job':>8}")
    for name, runs in times.items():
        print(f"{name:<9}{', '.join(f'{t:.2f}' for t in runs):<26}{med[name]:>9.2f}"
              f"{1000 * med[name] / jobs[name]:>8.2f}")
    print(f"ratio ours/bare: {med['ours'] / med['bare']:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
