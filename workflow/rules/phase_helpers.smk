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


wildcard_constraints:
    phase=r"[a-z0-9_]+",


def phase_init(wc):
    """The previous phase's model.pt (none for the first phase and for single-phase methods)."""
    names = PHASES[wc.method]
    current = wc.get("phase", names[-1] if names else None)
    if not names or names.index(current) == 0:
        return []
    return [f"results/runs/{_run(wc).path}/phase={names[names.index(current) - 1]}/train/model.pt"]


def phase_args(wc, input):
    """`--init <model.pt> method.phase=<name>` for a multi-phase method, nothing otherwise."""
    names = PHASES[wc.method]
    if not names:
        return ""
    init = f"--init {input.init[0]} " if input.init else ""
    return f"{init}method.phase={wc.get('phase', names[-1])}"


def phase_targets(stage_file):
    """One file per scored earlier phase of every runnable cell (aggregated with the cells)."""
    return [f"results/runs/{run.path}/phase={phase}/{stage_file}"
            for run in RUNS for phase in SCORED_PHASES[run.method]]
