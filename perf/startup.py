"""Start-up cost of every CLI stage against bare interpreters, printed as one table.

Run: ``.venv/bin/python perf/startup.py [--repeats 3]``. In a temporary folder it makes one 2D
demo cell (the demo's synthetic_bus: 48 cases, 4 folds, so 12 test cases) and times each stage as
the Snakefile runs it, a fresh ``python -m benchmarks.cli`` per call: make-data, split, prompts
(box), train (resnet_seg tiny with ``max_steps=0``: a no-op run, i.e. imports, configuration,
model build and checkpoint), predict and evaluate of the 12 test cases, aggregate and report. The
references, timed in the same run and the same way: ``python -c pass``, ``python -c "import numpy,
scipy, pandas"`` and ``python -c "import torch"``. Each row is the median wall time of
``--repeats`` runs; the last column is the stage's excess over the numpy/scipy/pandas reference
(issue 14's acceptance: evaluate within 1.5 s of it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = str(REPO / ".venv" / "bin" / "python")
CELL = "dataset=synthetic_bus/method=resnet_seg/backbone=resnet18/prompt=none/fold=0/seed=0"
DATA = ["dataset=synthetic_bus", "dataset_id=synthetic_bus", "dataset.root=data",
        "dataset.n_folds=4"]
RUN = ["method=resnet_seg", "method.backbone=resnet18", "fold=0", "seed=0", "prompt=none", *DATA,
       "method.variant=tiny", "method.image_size=128", "method.max_steps=0"]
REFERENCES = {"python -c pass": "pass",
              "import numpy, scipy, pandas": "import numpy, scipy, pandas",
              "import torch": "import torch"}


def stages() -> dict[str, list[str]]:
    """The CLI arguments of every stage, in pipeline order (paths relative to the work folder)."""
    cell, split = f"results/runs/{CELL}", "results/splits/dataset=synthetic_bus/split.json"
    return {
        "make-data": ["make-data", "--kind", "bus", "--n", "48", "--out", "data"],
        "split": ["split", "--out", split, *DATA],
        "prompts": ["prompts", "--split", split, "--protocol", "box", "--out",
                    "results/prompts/dataset=synthetic_bus/protocol=box/seed=0/prompts.json",
                    *DATA],
        "train (no-op)": ["train", "--out", f"{cell}/train", "--split", split, *RUN],
        "predict": ["predict", "--model", f"{cell}/train/model.pt", "--out", f"{cell}/predict",
                    "--split", split, *RUN],
        "evaluate": ["evaluate", "--pred", f"{cell}/predict", "--provenance",
                     f"{cell}/train/provenance.json", "--out", f"{cell}/evaluate/metrics.csv",
                     "--split", split, *RUN],
        "aggregate": ["aggregate", "--cells", "cells.tsv", "--results", "results",
                      "--out", "results/summary"],
        "report": ["report", "--summary", "results/summary", "--out", "results/report/r.html"],
    }


def timed(cmd: list[str], cwd: Path) -> float | None:
    """Wall time of one command, or None when it fails."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        print(f"  {' '.join(cmd[:4])} failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return time.perf_counter() - start


def median(cmd: list[str], cwd: Path, repeats: int) -> float | None:
    times = [timed(cmd, cwd) for _ in range(repeats)]
    return None if None in times else statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        work = Path(tmp)
        (work / "cells.tsv").write_text("dataset\tmethod\tbackbone\tprompt\tfold\tseed\n"
                                        "synthetic_bus\tresnet_seg\tresnet18\tnone\t0\t0\n")
        for name, code in REFERENCES.items():
            rows[name] = median([PY, "-c", code], work, args.repeats)
        for name, cli_args in stages().items():
            rows[name] = median([PY, "-m", "benchmarks.cli", *cli_args], work, args.repeats)
    base = rows["import numpy, scipy, pandas"]
    print(f"{'stage / reference':<30}{'median wall s':>14}{'- numpy/scipy/pandas s':>24}")
    for name, wall in rows.items():
        shown = "failed" if wall is None else f"{wall:.2f}"
        excess = "" if wall is None or base is None else f"{wall - base:+.2f}"
        print(f"{name:<30}{shown:>14}{excess:>24}")


if __name__ == "__main__":
    main()
