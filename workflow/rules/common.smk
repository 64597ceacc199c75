# Load and validate the config, expand the grid, and expose small helpers to the rules.
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir).parent))  # benchmarks/ and methods/ by import

from snakemake.utils import validate

from benchmarks import containers, grid, prompts, registry

validate(config, schema="../schemas/config.schema.yaml")
# The plan's first line: which file the grid came from (a --configfile replaces config.yaml).
print(grid.provenance_line(config, workflow.overwrite_configfiles), file=sys.stderr)

RUNS, SKIPPED = grid.expand(config)
# Cells the grid cannot run are listed with their reason, never dropped silently.
grid.write_skipped(SKIPPED, "results/summary/skipped.tsv")

CELL = f"results/runs/{grid.CELL_PATTERN}"
BENCH = f"results/benchmarks/{grid.CELL_PATTERN}"
LOG = f"results/logs/{grid.CELL_PATTERN}"
SPLIT = "results/splits/dataset={dataset}/split.json"


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    method="|".join(config["methods"]),
    backbone=r"[a-z0-9_]+",
    fold=r"\d+",
    seed=r"\d+",
    prompt=f"{grid.NO_PROMPT}|{prompts.PROTOCOL_PATTERN}",


def _run(wc):
    return grid.Run(wc.dataset, wc.method, wc.backbone, int(wc.fold), int(wc.seed), wc.prompt)


def cell_overrides(wc):
    """Hydra overrides of one cell (a params entry: changing them reruns exactly that cell)."""
    return " ".join(shlex.quote(item) for item in grid.overrides_for(config, _run(wc)))


def dataset_overrides(wc):
    return " ".join(shlex.quote(item) for item in grid.dataset_overrides(config, wc.dataset))


def prompts_input(wc):
    """The pinned prompts file of a prompted cell; nothing for prompt=none."""
    run = _run(wc)
    return [] if run.prompt == grid.NO_PROMPT else [grid.prompts_path(run)]


def cell_targets(stage_file):
    """One file per runnable cell, e.g. cell_targets('evaluate/metrics.csv')."""
    return [f"results/runs/{run.path}/{stage_file}" for run in RUNS]


def resources_for(stage):
    """Slurm needs of a stage from config.yaml's override or the method's card, scaled by attempt."""

    def need(wc, key):
        custom = (config["methods"][wc.method] or {}).get("resources", {}).get(stage, {})
        return custom.get(key, registry.read_card(wc.method)["resources"][stage][key])

    return {
        "mem_mb": lambda wc, attempt: int(need(wc, "mem_gb") * 1024 * attempt),
        "runtime": lambda wc, attempt: int(need(wc, "runtime_min") * attempt),
        "gpu": lambda wc: int(need(wc, "gpu")),
    }


def container_for(stage):
    """Apptainer image of a stage, used under --sdm apptainer. Train and predict run in the
    method's stack (card.yaml `stack:`), every other stage in the CPU stack (containers/README.md)."""
    root = (config.get("paths") or {}).get("containers", "containers/images")
    if stage in ("train", "predict"):
        return lambda wc: containers.image_path(root, registry.read_card(wc.method)["stack"])
    return containers.image_path(root, containers.CPU_STACK)


def data_marker(wc):
    """Generated datasets depend on their generator's output; real ones are external."""
    entry = config["datasets"][wc.dataset] or {}
    return [f"results/data/{wc.dataset}/cases.csv"] if entry.get("generate") else []
