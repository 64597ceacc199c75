"""The benchmark report: one self-contained HTML page built from ``results/summary`` only.

Plots and tables read the summary tables and never recompute metrics (style guide B5); the page
needs no network (inline CSS/JS, figures as data URIs). Torch-free. Sections a reader scans
first come first: warnings, the headline (the answer), the grid at a glance, results with CIs,
published vs reproduced.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import pandas as pd

from benchmarks.core import git
from benchmarks.core.io import read_table, write_text
from benchmarks.report import blocks as rh
from benchmarks.report import figures, glance, headline, organs, published, refine, significance
from benchmarks.report import interactive as interactive_section
from benchmarks.runs import throughput_plan
from benchmarks.scoring import stats

NAV = [("warnings", "Warnings"), ("headline", "Headline"), ("glance", "Grid at a glance"),
       ("results", "Results"), ("organs", "Per organ"), ("published", "Published vs reproduced"),
       ("distributions", "Per-case distributions"),
       ("throughput", "Throughput"), ("counts", "Cases per cell"), ("statistics", "Statistics"),
       ("failures", "Failures"), ("provenance", "Provenance"), ("definitions", "Definitions")]
PIVOT_METRICS = (("dice", "Dice"), ("nsd", "NSD@τ (surface Dice)"), ("hd95", "HD95"))


def _optional(summary_dir: Path, name: str) -> pd.DataFrame | None:
    path = summary_dir / name
    return read_table(path) if path.exists() else None


def ci_pivot(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows entry, columns dataset, cells ``mean [95% CI] (n)`` from the bootstrap summary."""
    table = stats.summarize(metrics, [metric])
    table["value"] = [f"{m:.3f} [{lo:.3f}, {hi:.3f}] (n={n})" for m, lo, hi, n in
                      zip(table["mean"], table["ci_low"], table["ci_high"], table["n"],
                          strict=True)]
    pivot = table.pivot(index="entry", columns="dataset", values="value").fillna("–")
    return pivot.rename_axis(index="method/backbone", columns=None).reset_index()


def _results(metrics: pd.DataFrame) -> str:
    parts = []
    for metric, title in PIVOT_METRICS:
        if metric in metrics and metrics[metric].notna().any():
            unit = ", ".join(sorted(metrics["distance_unit"].dropna().unique())) \
                if metric == "hd95" else ""
            head = f"{title} [{unit}]" if unit else title
            parts.append(f"<h3>{html.escape(head)}</h3>"
                         + rh.table(ci_pivot(metrics, metric), "no cells"))
    return rh.section("results", "Results: method × dataset, mean [95 % CI] (n cases)",
                      "".join(parts), "Bootstrap percentile CI over cases (and seeds); folds "
                      "pooled. Failed cases are included at their worst values.")


def _counts(metrics: pd.DataFrame, summary: pd.DataFrame) -> str:
    keys = ["dataset", "method", "backbone", "prompt"]
    shown = ("fp_rate_normal", "weights", "training", "trained_on", "reference_informed")
    extra = summary[[*keys, *(c for c in shown if c in summary)]]
    table = significance.counts(metrics).merge(extra, on=keys, how="left")
    return rh.section("counts", "Cases per cell", rh.table(table, "no cells"),
                      "Summed over folds and seeds. n_failed: failed, missing or invalid "
                      "predictions (scored worst); n_bad_input: unreadable reference (not "
                      "scored); fp_rate_normal: share of normal (lesion-free) images with a "
                      "non-empty prediction.")


def _published(summary: pd.DataFrame) -> str:
    matched, unmatched = published.split(published.compare(published.read(), summary))
    body = rh.table(matched, "no published number matches a cell of this grid")
    if len(unmatched):
        body += (f"<details><summary>{len(unmatched)} published number(s) without a run in this "
                 "grid</summary>" + rh.table(unmatched, "none") + "</details>")
    return rh.section("published", "Published vs reproduced", body,
                      "Published headline numbers (benchmarks/report/published.csv, from "
                      "methods-spec Parts 2.8 and 3.7; M-SAM, UltraRefiner, SMA and the two "
                      "baselines publish none), matched to this grid's cells first. Δ = ours − "
                      "published; within_tolerance compares |Δ| with the row's tolerance. "
                      "Random-init rows are shown, never compared.")


def _distributions(metrics: pd.DataFrame) -> str:
    png = figures.distribution_figure(metrics, "dice")
    return rh.section("distributions", "Per-case distributions",
                      rh.png_img(png, "per-case Dice per method and dataset"))


def _throughput(summary: pd.DataFrame, speed: pd.DataFrame | None) -> str:
    if speed is None or speed.empty:
        return rh.section("throughput", "Throughput", "<p>no throughput measurements</p>")
    head = throughput_plan.headline(speed)
    drawn = figures.pareto_figure(summary, head)
    fig = (rh.png_img(drawn.png, "Dice vs throughput", drawn.plotted, drawn.legend) if drawn
           else "<p>no entry has both numbers</p>")
    # what images_per_s counts, next to it: 2D images or 3D patches
    head.insert(int(head.columns.get_loc("images_per_s")) + 1, "counts",
                figures.throughput_unit(head))
    return rh.section("throughput", "Throughput and the Dice-vs-throughput trade-off",
                      fig + rh.table(head, "none", "{:.4g}")
                      + "<details><summary>every measurement</summary>"
                      + rh.table(speed, "none", "{:.4g}") + "</details>",
                      "Synthetic inputs at the listed size, random init unless weights were "
                      "given; latency = batch-1 predict after warm-up (p50/p90/p99 ms); "
                      "images_per_s (2D images, or 3D patches for a patch method: the counts "
                      "column says which) at the largest batch that fitted (doubling; stop_reason "
                      "says why it stopped: an OOM or the cap, 8 on the CPU by default); "
                      "peak memory = CUDA allocator peak or process peak RSS on the CPU; "
                      "FLOPs from torch's FlopCounterMode (2 per multiply-add).")


def _failures(status: pd.DataFrame, speed: pd.DataFrame | None, skipped: pd.DataFrame) -> str:
    failed = status[status["state"].astype(str) != "done"] if len(status) else status
    body = rh.table(failed, "none: every stage finished")
    if speed is not None and "status" in speed:
        bad = speed[speed["status"] != "ok"]
        cols = [c for c in ("method", "backbone", "size", "mode", "batch", "status", "error",
                            "stop_reason") if c in bad]
        body += "<h3>Throughput rows not ok</h3>" + rh.table(bad[cols], "none")
    body += "<h3>Skipped grid cells</h3>" + rh.table(skipped, "none")
    return rh.section("failures", "Failures, unfinished stages and skipped cells", body)


def with_sites(cells: pd.DataFrame, sites: pd.DataFrame | None) -> pd.DataFrame:
    """The provenance rows with the site that produced each cell: the one named in
    ``results/bundles/sites.csv`` for an imported cell (``bundle import``), else ``here``."""
    site = cells["cell"].map(dict(zip(sites["cell"], sites["site"], strict=True))
                             if sites is not None and len(sites) else {})
    return cells.assign(site=site.fillna("here").astype(str))


def _provenance(cells: pd.DataFrame | None, jobs: pd.DataFrame,
                sites: pd.DataFrame | None = None) -> str:
    if cells is None or cells.empty:
        return rh.section("provenance", "Provenance", "<p>no provenance summary</p>")
    cells = with_sites(cells, sites)
    short = pd.DataFrame({
        "what": ["git commit(s)", "uncommitted changes", "containers", "weights", "devices",
                 "torch", "sites (cells)"],
        "value": [", ".join(sorted(cells["git_sha"].astype(str).str[:12].unique())),
                  f"{int(cells['git_dirty'].astype(str).eq('True').sum())} of {len(cells)} cells",
                  ", ".join(sorted(set(cells["container"].fillna("").astype(str)) - {""}))
                  or "none (host environment)",
                  "; ".join(sorted({f"{m}: {w}" for m, w in zip(cells["method"], cells["weights"],
                                                                 strict=True)})),
                  ", ".join(sorted(cells["device"].astype(str).unique())),
                  ", ".join(sorted(cells["torch"].astype(str).unique())),
                  ", ".join(f"{k}: {v}" for k, v in cells["site"].value_counts()
                            .sort_index().items())]})
    return rh.section("provenance", "Provenance", rh.table(short, "none")
                      + "<details><summary>per cell</summary>" + rh.table(cells, "none")
                      + "</details><details><summary>jobs: wall time and peak RSS</summary>"
                      + rh.table(jobs, "no benchmark files", "{:.1f}") + "</details>")


def _definitions(metrics: pd.DataFrame) -> str:
    words = (
        "<ul><li><b>Dice</b> = 2|P∩R| / (|P|+|R|) and <b>IoU</b> = |P∩R| / |P∪R| per case, on "
        "binary masks in the original image space (foreground where the probability is strictly "
        "above the recorded threshold, never logits); the table mean is over cases (folds "
        "pooled).</li>"
        "<li><b>HD95</b>: the larger of the two directed 95th-percentile surface distances "
        "(max_directed, MONAI/DeepMind family) or both directions pooled (pooled, medpy), as "
        "recorded; in mm where the file has spacing, else in pixels.</li>"
        "<li><b>NSD@τ (surface Dice)</b>: the share of both boundaries within τ of the other "
        "boundary (DeepMind surface elements).</li>"
        "<li><b>Empty masks</b>: both empty → Dice 1, IoU 1, NSD 1, HD95 0 (a correct empty "
        "prediction); exactly one empty → Dice 0, NSD 0, HD95 = the image diagonal. A failed, "
        "missing or invalid prediction scores these worst values and is counted; a case whose "
        "own files cannot be read is counted as bad_input and not scored.</li></ul>")
    return rh.section("definitions", "Metric definitions and the empty-mask policy", words
                      + rh.table(significance.protocol_table(metrics), "none", "{:g}"),
                      "As recorded in every metrics file (metric-conventions.md §2.12).")


def _zero_shot_note(summary: pd.DataFrame) -> str:
    if "training" not in summary:
        return ""
    rows = summary[summary["training"].astype(str).str.contains("zero_shot")]
    if rows.empty:
        return ""
    names = ", ".join(sorted(set(rows["method"])))
    return (f"<p>Zero-shot references: {html.escape(names)} ran their foundation model untouched "
            "(nothing trained); the gap to a fine-tuned row is what its training adds.</p>")


def build_html(summary_dir: Path, fig_dir: Path) -> str:
    """Assemble the report from the summary tables in ``summary_dir``; CD figures go to
    ``fig_dir``."""
    summary = read_table(summary_dir / "summary.csv")
    metrics = read_table(summary_dir / "metrics.csv")
    status = read_table(summary_dir / "status.csv")
    skipped = _optional(summary_dir, "skipped.tsv")
    skipped = skipped if skipped is not None else pd.DataFrame()
    speed = _optional(summary_dir, "throughput.csv")
    cells = _optional(summary_dir, "provenance.csv")
    jobs = _optional(summary_dir, "jobs.csv")
    sites = _optional(summary_dir.parent / "bundles", "sites.csv")  # cells from bundle import
    alerts = glance.warnings(summary, cells, status, speed)
    values, classes = glance.glance(metrics, status, skipped)
    nav = "".join(f"<a href='#{a}'>{html.escape(t)}</a>" for a, t in NAV)
    parts = [
        f"<h1>samseg-bench report</h1><p class='note'>generated "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}, git {git.sha()[:12]}</p>"
        f"<nav>{nav}</nav>",
        rh.section("warnings", "Warnings", ("".join(rh.warn(a) for a in alerts) or "<p>none</p>")
                   + _zero_shot_note(summary)),
        headline.section(metrics),
        rh.section("glance", "Grid at a glance", rh.colored_matrix(values, classes),
                   "Cells per method and dataset: done (pretrained weights), random init, "
                   "zero-shot (a foundation model evaluated untrained), failed (a stage did not "
                   "finish, or no metrics: missing), skipped (reason in the failure section)."),
        *(_scored_sections(metrics, summary, speed, fig_dir) if _scored(metrics) else
          [_no_results(status)]),
        _failures(status, speed, skipped), _provenance(cells, jobs if jobs is not None
                                                       else pd.DataFrame(), sites),
    ]
    return rh.page("samseg-bench report", "".join(parts))


def _scored(metrics: pd.DataFrame) -> bool:
    """Whether any current case was scored (every cell failed, stale or all bad input: none)."""
    return bool(len(metrics)) and "dice" in metrics and metrics["dice"].notna().any()


def _no_results(status: pd.DataFrame) -> str:
    """The one results section of a grid without a scored case: what failed, not empty tables."""
    bad = glance.unfinished(status)
    return rh.section("results", "Results", "<p class='warn'>No current results: no cell has a "
                      f"scored case ({len(bad)} stage(s) failed, missing or stale, listed under "
                      "Failures; a cell whose every case is bad input is listed in the "
                      "warnings).</p>")


def _scored_sections(metrics: pd.DataFrame, summary: pd.DataFrame, speed: pd.DataFrame | None,
                     fig_dir: Path) -> list[str]:
    return [_results(metrics), organs.section(summary), _published(summary),
            _distributions(metrics),
            _throughput(summary, speed), _counts(metrics, summary),
            rh.section("statistics", "Statistics",
                       "".join(significance.stats_sections(metrics, fig_dir))),
            refine.section(metrics), interactive_section.section(metrics), _definitions(metrics)]


def run(summary_dir: Path, out: Path) -> None:
    """Write the HTML report atomically."""
    write_text(out, build_html(summary_dir, out.parent / "figures"))
