# Load and validate the config, expand the grid, and expose small helpers to the rules.
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir).parent))  # benchmarks/ and methods/ by import

from snakemake.utils import validate

from benchmarks.runs import containers, grid, throughput_plan
from benchmarks.data import prompts
from benchmarks.core import registry

validate(config, schema="../schemas/config.schema.yaml")
# A multi-organ entry (`organs: [...]`) becomes one dataset id per organ: <id>__<organ>.
with grid.named_source(workflow.overwrite_configfiles):  # errors name a --configfile
    config["datasets"] = grid.organ_datasets(config["datasets"])
# The plan's first line: which file the grid came from (a --configfile replaces config.yaml).
print(grid.provenance_line(config, workflow.overwrite_configfiles), file=sys.stderr)

with grid.named_source(workflow.overwrite_configfiles):
    RUNS, SKIPPED = grid.expand(config)
# Cells the grid cannot run are listed with their reason, never dropped silently.
grid.write_skipped(SKIPPED, "results/summary/skipped.tsv")
# The aggregate reads its cells from this list: a command line of 4 paths per cell passes Linux's
# 2 MB limit near 4,500 cells ("Argument list too long").
CELLS_LIST = "results/summary/cells.tsv"
grid.write_cells(RUNS, CELLS_LIST)

CELL = f"results/runs/{grid.CELL_PATTERN}"
BENCH = f"results/benchmarks/{grid.CELL_PATTERN}"
LOG = f"results/logs/{grid.CELL_PATTERN}"
SPLIT = "results/splits/dataset={dataset}/split.json"
PUBLISHED = str(Path(workflow.basedir).parent / "benchmarks" / "report" / "published.csv")  # repo data


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    method="|".join(config["methods"]),
    backbone=r"[a-z0-9_]+",
    fold=r"\d+",
    seed=r"\d+",
    prompt=f"{grid.NO_PROMPT}|{prompts.PROTOCOL_PATTERN}",
    size=rf"\d+|{throughput_plan.NATIVE}",


def _run(wc):
    return grid.Run(wc.dataset, wc.method, wc.backbone, int(wc.fold), int(wc.seed), wc.prompt)


def _quoted(items):
    return " ".join(shlex.quote(item) for item in items)


# Everything below that does not depend on the cell is derived once per dataset or method at
# parse time: params and resources functions run for every job (twice), and at 10,000 jobs each
# extra millisecond per job is 10 s of planning (perf/plan.py).
SHARED_OVERRIDES = {
    (d, m): _quoted(grid.shared_overrides(config, d, m)) for d in config["datasets"] for m in config["methods"]
}


def cell_overrides(wc):
    """Hydra overrides of one cell (a params entry: changing them reruns exactly that cell)."""
    return f"{_quoted(grid.cell_overrides(_run(wc)))} {SHARED_OVERRIDES[wc.dataset, wc.method]}"


def dataset_overrides(wc):
    return _quoted(grid.dataset_overrides(config, wc.dataset))


def _prompts_file(wc):
    """The pinned prompts file of a prompted cell; nothing for prompt=none."""
    run = _run(wc)
    return [] if run.prompt == grid.NO_PROMPT else [grid.prompts_path(run)]


# A grid without prompted methods needs no per-job input function (each costs every job time).
PROMPTED = any(grid.method_prompts(config, m) != [grid.NO_PROMPT] for m in config["methods"])
prompts_input = _prompts_file if PROMPTED else []


def _by_method(values, per_job):
    """``values`` ({method: value}) as one constant when all methods agree, else ``per_job``."""
    distinct = set(values.values())
    return distinct.pop() if len(distinct) == 1 else per_job


def cell_targets(stage_file):
    """One file per runnable cell, e.g. cell_targets('evaluate/metrics.csv')."""
    return [f"results/runs/{run.path}/{stage_file}" for run in RUNS]


def _needs(method, stage):
    """{gpu, runtime_min, mem_gb} of a stage: config.yaml's override, else the method's card
    (a card without `resources.throughput` lends it its `predict` needs)."""
    custom = (config["methods"][method] or {}).get("resources", {}).get(stage, {})
    card = registry.read_card(method)["resources"]
    return card.get(stage, card["predict"]) | custom


STAGES = ("train", "predict", "evaluate", "throughput")
NEEDS = {s: {m: _needs(m, s) for m in config["methods"]} for s in STAGES}


def resources_for(stage):
    """Slurm needs of a stage from config.yaml's override or the method's card, scaled by attempt."""
    needs = NEEDS[stage]
    return {
        "mem_mb": lambda wc, attempt: int(needs[wc.method]["mem_gb"] * 1024 * attempt),
        "runtime": lambda wc, attempt: int(needs[wc.method]["runtime_min"] * attempt),
        "gpu": _by_method({m: int(n["gpu"]) for m, n in needs.items()},
                          lambda wc: int(needs[wc.method]["gpu"])),
    }


CONTAINERS_ROOT = (config.get("paths") or {}).get("containers", "containers/images")
METHOD_IMAGES = {
    m: containers.image_path(CONTAINERS_ROOT, registry.read_card(m)["stack"]) for m in config["methods"]
}


def container_for(stage):
    """Apptainer image of a stage, used under --sdm apptainer. Train, predict and throughput run
    in the method's stack (card.yaml `stack:`), every other stage in the CPU stack
    (containers/README.md)."""
    if stage in ("train", "predict", "throughput"):
        return _by_method(METHOD_IMAGES, lambda wc: METHOD_IMAGES[wc.method])
    return containers.image_path(CONTAINERS_ROOT, containers.CPU_STACK)


# External test sets (`train_from:`): their cells use the train/ files of the same cell of the
# dataset they name, so a set with one labelled volume is never trained on (benchmarks/runs/datasets.py).
SOURCES = grid.train_sources(config)


def trained(name):
    """``<cell>/train/<name>`` of the cell whose model a cell uses: its own, or for an external
    test set the same cell of its train_from dataset (a constant pattern when there is none)."""
    if not SOURCES:
        return f"{CELL}/train/{name}"
    return lambda wc: f"results/runs/{grid.trained_run(_run(wc), SOURCES).path}/train/{name}"


def trained_targets(name):
    """``train/<name>`` of every cell that trains (external test sets train nothing of their own)."""
    cells = {grid.trained_run(run, SOURCES) for run in RUNS}
    return [f"results/runs/{run.path}/train/{name}" for run in sorted(cells)]


def data_marker(wc):
    """Generated datasets depend on their generator's output; real ones are external."""
    entry = config["datasets"][wc.dataset] or {}
    return [f"results/data/{wc.dataset}/cases.csv"] if entry.get("generate") else []
