"""Collect the grid's per-cell files into tidy tables under ``results/summary/``.

The cells come from the list Snakemake writes at parse time (``results/summary/cells.tsv``, one
row per runnable cell), never from the command line: at 20,000 cells four paths per cell would
pass Linux's 2 MB argument limit. Every cell's files are found from its path; a cell without
metrics is listed in ``status.csv`` as ``missing`` with the reason its records give (its own failed
stage, its dataset's split or prompts, or no record at all), so a partial grid still reports.
Files are read through :mod:`benchmarks.core.filecache`: a rerun re-reads only new or changed files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from benchmarks.core import filecache, registry
from benchmarks.core.filecache import SOURCE
from benchmarks.core.io import write_json, write_summary
from benchmarks.runs import freshness, grid, status

KEYS = ["dataset", "method", "backbone", "prompt"]
HEADLINE = ("dice", "iou", "hd95")
# the per-case columns every reader of metrics.csv may use (stages.evaluate writes them)
METRICS_COLUMNS = [*KEYS, "organ", "variant", "fold", "seed", "weights", "training", "trained_on",
                   "case_id", "subset", "status", "message", "empty_ref", "empty_pred",
                   "distance_unit", "hd95_definition", "empty_policy", "nsd_tolerance",
                   "threshold", *HEADLINE, "nsd"]
SUMMARY_COLUMNS = [*KEYS, "n_cases", "n_cells", "n_ok", "n_failed", "n_bad_input", "n_empty_ref",
                   "n_empty_pred", "fp_rate_normal", "weights", "training", "trained_on",
                   "distance_unit", *(f"{m}_{s}" for m in HEADLINE for s in ("mean", "std"))]


def _joined(values: pd.Series) -> str:
    return ";".join(sorted(values.dropna().astype(str).unique()))


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, method, backbone, prompt), pooled over folds and seeds; multi-organ
    sets add one row per entry with the mean over its organs (:func:`organ_means`).

    Counts of cases by status; ``bad_input`` cases (a data problem) are left out of the means and
    of the empty-mask counts; failures count with their worst values. Vectorised: 20,000 cells
    (a few hundred rows) take well under a second.
    """
    if not len(metrics):  # nothing finished: the report still renders the failure table
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    # a cell whose every case is bad input has no empty_ref, subset, ... columns of its own
    metrics = metrics.reindex(columns=list(dict.fromkeys([*metrics.columns, *METRICS_COLUMNS])))
    status = metrics["status"]
    scored = status.ne("bad_input")
    normal = scored & (metrics["subset"].eq("normal") if "subset" in metrics else False)
    flags = pd.DataFrame({
        "n_ok": status.eq("ok"), "n_failed": scored & status.ne("ok"), "n_bad_input": ~scored,
        "n_empty_ref": scored & metrics["empty_ref"].astype(bool),
        "n_empty_pred": scored & metrics["empty_pred"].astype(bool),
        "_normal": normal, "_normal_fp": normal & metrics["empty_pred"].eq(False)})
    keys = [metrics[k] for k in KEYS]
    by = flags.groupby(keys, sort=True)
    out = by.sum().astype(int)
    out.insert(0, "n_cases", by.size())
    out.insert(1, "n_cells", metrics.drop_duplicates([*KEYS, "fold", "seed"]).groupby(KEYS).size())
    out["fp_rate_normal"] = (out.pop("_normal_fp") / out.pop("_normal")).astype(object)
    out["fp_rate_normal"] = out["fp_rate_normal"].where(out["fp_rate_normal"].notna(), None)
    out["weights"] = metrics["weights"].groupby(keys).agg(_joined)
    # zero_shot: a foundation model evaluated untouched (card `trainer: none`), a reference row
    training = metrics["training"] if "training" in metrics else pd.Series("trained", metrics.index)
    out["training"] = training.groupby(keys).agg(_joined)
    # the dataset whose training folds made the model (another one for an external test set)
    trained_on = metrics["trained_on"] if "trained_on" in metrics else metrics["dataset"]
    out["trained_on"] = trained_on.groupby(keys).agg(_joined)
    out["distance_unit"] = metrics["distance_unit"].where(scored).groupby(keys).agg(_joined)
    # prompts from the reference on every slice: an upper bound, never an automatic result
    out["reference_informed"] = out.index.get_level_values("prompt").astype(str).str.endswith(
        registry.REFERENCE_INFORMED_SUFFIX)
    values = metrics[list(HEADLINE)].where(scored, axis=0).groupby(keys)
    means, stds = values.mean(), values.std(ddof=1)
    for name in HEADLINE:
        out[f"{name}_mean"], out[f"{name}_std"] = means[name], stds[name]
    table = out.reset_index()
    organs = metrics.groupby("dataset")["organ"].first() if "organ" in metrics else None
    if organs is None:
        return table
    table.insert(1, "organ", table["dataset"].map(organs).fillna("").astype(str))
    return pd.concat([table, organ_means(table)], ignore_index=True)


def organ_means(table: pd.DataFrame) -> pd.DataFrame:
    """Per multi-organ entry: the mean over organs of the per-organ means over volumes
    (methods-spec Part 9 item 5: per organ per volume, then over volumes, then over organs)."""
    per_organ = table[table["organ"].astype(str) != ""]
    if per_organ.empty:
        return per_organ
    parent = per_organ["dataset"].str.rsplit(grid.ORGAN_SEP, n=1).str[0]
    keys = [parent.rename("dataset"), *(per_organ[k] for k in KEYS[1:])]
    means = per_organ.groupby(keys, sort=True).agg(
        n_cases=("n_cases", "max"), n_organs=("organ", "size"),
        weights=("weights", "first"), distance_unit=("distance_unit", "first"),
        training=("training", "first"), trained_on=("trained_on", _joined),
        **{f"{m}_mean": (f"{m}_mean", "mean") for m in HEADLINE},
        **{f"{m}_std": (f"{m}_mean", "std") for m in HEADLINE}).reset_index()
    return means.assign(organ="mean")


STAGES = ("train", "predict", "evaluate")  # the stages with a benchmark file and a record
CELL_DEPTH = grid.CELL_PATTERN.count("/") + 1  # path parts of a cell
STATUS_COLUMNS = ["cell", "stage", "attempt", "state", "final_state", "slurm_job_id", "reason",
                  "time"]
JOBS_COLUMNS = ["stage", "cell", "seconds", "max_rss_mb"]


def split_key(path: str) -> tuple[str, str]:
    """(cell, stage) of a job's path below the results tree: the stage of an earlier phase's job
    keeps its path below the cell (``phase=coarse/train``, ``phase=coarse/half=0/predict``); a
    split or prompts record (``dataset=<id>/split``) has a shorter key in place of the cell."""
    parts = path.split("/")
    depth = min(CELL_DEPTH, len(parts) - 1)
    return "/".join(parts[:depth]), "/".join(parts[depth:])


def _method_list(fn, method: str) -> list[str]:
    try:
        return fn(method)
    except registry.UnknownIdError:  # a cell of a method not in this checkout: no phases to find
        return []


def cell_jobs(cells: list[str]) -> list[tuple[str, str]]:
    """(cell, stage) of every job of the cells in run order: earlier phases first (a
    multi-phase method's, ``registry.phase_jobs``), then the cell's own train, predict, evaluate."""
    methods = [grid.parse_path(cell).method for cell in cells]
    phases = {method: _method_list(registry.phase_jobs, method) for method in set(methods)}
    return [(cell, stage) for cell, method in zip(cells, methods, strict=True)
            for stage in [*phases[method], *STAGES]]


def jobs_table(results: Path, cells: list[str], cache: Path) -> pd.DataFrame:
    """Wall time and peak RSS per job from Snakemake ``benchmark:`` files (the last repeat)."""
    paths = [f"{results}/benchmarks/{cell}/{stage}.tsv" for cell, stage in cell_jobs(cells)]
    bench, _ = filecache.load(paths, cache / "benchmarks.pkl",
                              lambda ps: filecache.parse_tables(ps, "\t"))
    if not len(bench):
        return pd.DataFrame(columns=JOBS_COLUMNS)
    last = bench.groupby(SOURCE, sort=False).tail(1)
    keys = [split_key(p.removesuffix(".tsv")) for p in
            last[SOURCE].str.slice(len(f"{results}/benchmarks/"))]
    return pd.DataFrame({"stage": [stage for _, stage in keys],
                         "cell": [cell for cell, _ in keys],
                         "seconds": last["s"].astype(float),
                         "max_rss_mb": pd.to_numeric(last["max_rss"], errors="coerce")})


def _job_row(row: dict) -> dict:
    """A record row keyed by its grid cell (an earlier phase's record key ends below the cell)."""
    cell, stage = split_key(f"{row['cell']}/{row['stage']}")
    return row | {"cell": cell, "stage": stage}


def _record_rows(paths: list[str]) -> pd.DataFrame:
    """Rows of stage records: the latest state, and every earlier attempt that did not end done
    (killed attempts included). A ``running`` record whose process is gone is settled first."""
    rows = []
    for path in paths:
        entry = json.loads(Path(path).read_text())
        settled = status.resolve(entry)
        if settled is not entry:
            write_json(path, settled)
        attempts = [_job_row(row) for row in status.attempts(settled)]
        rows += [{**row, SOURCE: path} for row in attempts[:-1] if row["state"] != "done"]
        rows.append({**attempts[-1], SOURCE: path})
    return pd.DataFrame(rows, columns=[*STATUS_COLUMNS, SOURCE])


def record_paths(results: Path, cells: list[str]) -> list[str]:
    """Every stage record of the grid: each cell's stages, and each dataset's split and prompts."""
    datasets = sorted({cell.split("/", 1)[0] for cell in cells})
    paths = [f"{results}/status/{cell}/{stage}.json" for cell, stage in cell_jobs(cells)]
    for dataset in datasets:
        paths.append(f"{results}/status/{dataset}/split.json")
        paths += sorted(map(str, (results / "status" / dataset).glob("protocol=*/seed=*/*.json")))
    return paths


def status_table(results: Path, cells: list[str], cache: Path) -> pd.DataFrame:
    """Every stage record's latest state and failed earlier attempts (cached; ``running`` ones are
    read afresh each time, since their process may have died since)."""
    records, _ = filecache.load(record_paths(results, cells), cache / "status.pkl", _record_rows)
    records = records.reindex(columns=[*STATUS_COLUMNS, SOURCE])  # none at all: still the columns
    running = records["state"].eq("running")
    if running.any():
        fresh = _record_rows(sorted(set(records.loc[running, SOURCE])))
        records = pd.concat([records[~records[SOURCE].isin(fresh[SOURCE])], fresh])
    return records.reindex(columns=STATUS_COLUMNS).reset_index(drop=True)


def missing_reason(cell: str, latest: dict[tuple[str, str], dict],
                   stages: tuple[str, ...] | list[str] = STAGES) -> str:
    """Why a cell has no metrics, from the records of its ``stages`` (in run order), split and
    prompts."""
    for stage in stages:
        row = latest.get((cell, stage))
        if row and row["state"] != "done":
            return f"{stage} {row['state']}: {row['reason'] or 'no reason recorded'}"
    run = grid.parse_path(cell)
    upstream = [(f"dataset={run.dataset}", "split")]
    if run.prompt != grid.NO_PROMPT:
        upstream.append((f"dataset={run.dataset}/protocol={run.prompt}/seed={run.seed}",
                         "prompts"))
    for key, stage in upstream:
        row = latest.get((key, stage))
        if row and row["state"] != "done":
            return f"{stage} of {key} {row['state']}: {row['reason'] or 'no reason recorded'}"
    return "not run: no failure recorded (an upstream job failed or the run stopped before it)"


def missing_rows(cells: list[str], have: set[str], records: pd.DataFrame) -> pd.DataFrame:
    """One ``missing`` row per cell without a metrics file, with its reason."""
    latest = {(r["cell"], r["stage"]): r for r in
              records.drop_duplicates(["cell", "stage"], keep="last").to_dict("records")}
    missing = [cell for cell in cells if cell not in have]
    stages: dict[str, list[str]] = {cell: [] for cell in missing}
    for cell, stage in cell_jobs(missing):
        stages[cell].append(stage)
    rows = [{"cell": cell, "stage": "metrics", "state": "missing",
             "reason": missing_reason(cell, latest, stages[cell])} for cell in missing]
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)


def _train_from(results: Path, dataset: str) -> str:
    """The dataset whose model a dataset's cells use: its split's ``train_from`` (an external test
    set), else itself."""
    split = results / "splits" / f"dataset={dataset}" / "split.json"
    try:
        return json.loads(split.read_text()).get("train_from") or dataset
    except (OSError, ValueError):
        return dataset  # the split itself is checked as an input


def metrics_inputs(results: Path, key: str, sources: dict[str, str]) -> list[Path]:
    """The files a cell's (or an earlier phase's, ``<cell>/phase=<p>``) metrics were made from:
    its split and prompts, its predictions and the model that made them."""
    cell, below = split_key(key + "/evaluate")
    run = grid.parse_path(cell)
    base = results / "runs" / key
    trained = base if below != "evaluate" else \
        results / "runs" / grid.trained_run(run, sources).path
    # cases.csv comes and goes with predictions.npz (one job's outputs): one stat is enough. The
    # train job's provenance.json stands for its model: it is removed with model.pt when the job
    # is forced or fails, and a results bundle (runs.bundle_*) ships it while leaving weights out
    inputs = [results / "splits" / f"dataset={run.dataset}" / "split.json",
              base / "predict" / "predictions.npz", trained / "train" / "provenance.json"]
    if run.prompt != grid.NO_PROMPT:
        inputs.append(results / Path(grid.prompts_path(run)).relative_to("results"))
    return inputs


def stale_metrics(results: Path, present: list[str]) -> dict[str, str]:
    """{metrics path: why it is stale} for every present metrics file whose inputs are gone or
    newer (``runs.freshness``)."""
    keys = {p: p[len(f"{results}/runs/"):-len("/evaluate/metrics.csv")] for p in present}
    datasets = {key.split("/", 1)[0].removeprefix("dataset=") for key in keys.values()}
    sources = {d: _train_from(results, d) for d in datasets}
    exists: dict[Path, bool] = {}  # a dataset's split and prompts are shared by its cells
    reasons = {p: freshness.stale_reason(metrics_inputs(results, key, sources), results, exists)
               for p, key in keys.items()}
    return {p: reason for p, reason in reasons.items() if reason}


def stale_rows(results: Path, stale: dict[str, str]) -> pd.DataFrame:
    """One ``stale`` row per metrics file left out of the tables, with its reason."""
    rows = [{"cell": split_key(p[len(f"{results}/runs/"):])[0],
             "stage": split_key(p[len(f"{results}/runs/"):-len("/metrics.csv")])[1],
             "state": "stale", "reason": reason} for p, reason in stale.items()]
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)


def phase_metrics(results: Path, cells: list[str]) -> list[str]:
    """Metrics of the scored earlier phases of multi-phase methods (``<cell>/phase=<p>/``)."""
    methods = [grid.parse_path(cell).method for cell in cells]
    scored = {method: _method_list(registry.scored_phases, method) for method in set(methods)}
    return [f"{results}/runs/{cell}/phase={phase}/evaluate/metrics.csv"
            for cell, method in zip(cells, methods, strict=True) for phase in scored[method]]


def run(cells_file: str | Path, results: str | Path, out: Path) -> None:
    """Write metrics.csv (all cases), summary.csv, jobs.csv and status.csv into ``out``, each
    also as Parquet beside it (``io.write_summary``).

    ``status.csv`` holds every stage record's latest state, every earlier attempt that failed or
    was killed, and a ``missing`` row per grid cell without metrics.
    """
    results, cache = Path(results), out / ".cache"
    cells = grid.read_cells(cells_file)
    paths = [f"{results}/runs/{cell}/evaluate/metrics.csv" for cell in cells]
    paths += phase_metrics(results, cells)
    metrics, present = filecache.load(paths, cache / "metrics.pkl", filecache.parse_tables)
    # a stale cell has its own row (state stale), not a second one as missing
    have = {p[len(f"{results}/runs/"):-len("/evaluate/metrics.csv")] for p in present}
    stale = stale_metrics(results, present)
    if len(metrics):
        metrics = metrics[~metrics[SOURCE].isin(stale)]
    if metrics.empty:  # nothing current: the report still needs the columns to say so
        metrics = metrics.reindex(columns=[*METRICS_COLUMNS, SOURCE])
    records = status_table(results, cells, cache)
    write_summary(out / "metrics.csv", metrics.drop(columns=SOURCE))
    write_summary(out / "summary.csv", summarise(metrics.drop(columns=SOURCE)))
    write_summary(out / "jobs.csv", jobs_table(results, cells, cache))
    write_summary(out / "status.csv", pd.concat(
        [records, stale_rows(results, stale), missing_rows(cells, have, records)],
        ignore_index=True))
