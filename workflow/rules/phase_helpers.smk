# Multi-phase methods (card `phases:`, methods/README.md): every phase before the last is its own
# train job under <cell>/phase=<name>/, started from the previous phase's model.pt of the same
# cell; the last phase is the cell's ordinary train_model job. A phase marked `evaluate: true` is
# also predicted and scored. Rerun the last phase alone (earlier phases are kept), for every cell
# or for one cell:
#   snakemake --cores 2 --forcerun train_model
#   snakemake --cores 2 --forcerun results/runs/<cell>/train/model.pt
PHASES = {m: registry.phases(m) for m in config["methods"]}
SCORED_PHASES = {m: registry.scored_phases(m) for m in config["methods"]}
PHASE_CELL = f"{CELL}/phase={{phase}}"
# Out-of-fold models of a phase that a later phase trains on (card `oof_of:`, benchmarks/data/oof.py):
# <cell>/phase=<p>/half=<h>/train/ is trained on training half h and its predict/ holds the soft
# masks of the other half.
OOF_CELL = f"{PHASE_CELL}/half={{half}}"


wildcard_constraints:
    phase=r"[a-z0-9_]+",
    half=r"[01]",


def phase_init(wc):
    """The previous phase's model.pt (none for the first phase and for single-phase methods)."""
    names = PHASES[wc.method]
    current = wc.get("phase", names[-1] if names else None)
    if not names or names.index(current) == 0:
        return []
    return [f"results/runs/{_run(wc).path}/phase={names[names.index(current) - 1]}/train/model.pt"]


def oof_input(wc):
    """Both halves' out-of-fold predictions of the phase this phase trains on (card `oof_of:`)."""
    source = registry.oof_source(wc.method, wc.phase) if PHASES[wc.method] else None
    if source is None:
        return []
    return [f"results/runs/{_run(wc).path}/phase={source}/half={h}/predict/predictions.npz"
            for h in (0, 1)]


def phase_args(wc, input):
    """`--init <model.pt> [--coarse-masks <npz>]... method.phase=<name>` for a multi-phase
    method, nothing otherwise."""
    names = PHASES[wc.method]
    if not names:
        return ""
    init = f"--init {input.init[0]} " if input.init else ""
    oof = "".join(f"--coarse-masks {path} " for path in input.get("coarse_masks") or [])
    return f"{init}{oof}method.phase={wc.get('phase', names[-1])}"


def phase_targets(stage_file):
    """One file per scored earlier phase of every runnable cell (aggregated with the cells)."""
    return [f"results/runs/{run.path}/phase={phase}/{stage_file}"
            for run in RUNS for phase in SCORED_PHASES[run.method]]
