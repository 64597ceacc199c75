"""HTML sections of the report that hold statistics (called by ``benchmarks/stages/report.py``).

Input is the concatenation of every cell's per-case table from ``benchmarks/stages/evaluate.py``.
Every section states why it is empty instead of failing (one method, one dataset, no scored
metric).
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from benchmarks.report import blocks
from benchmarks.report.blocks import png_img
from benchmarks.scoring import stats

METRIC_ORDER = ("dice", "iou", "precision", "recall", "nsd", "hd95", "hd", "assd")
TESTED = ("dice", "nsd", "hd95")  # metrics that get significance tests and CD diagrams
FAILED = "status not in ('ok', 'bad_input')"


def _table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    return blocks.table(df, "none", floatfmt)


def _section(title: str, body: str, note: str = "") -> str:
    note_html = f"<p>{html.escape(note)}</p>" if note else ""
    return f"<section><h3>{html.escape(title)}</h3>{note_html}{body}</section>"


def _heading(metric: str) -> str:
    """Display name of a metric column; NSD is named as metric-conventions.md §2.3 asks."""
    names = {"nsd": "NSD@τ (surface Dice)", "hd95": "HD95", "hd": "HD", "assd": "ASSD",
             "iou": "IoU", "dice": "Dice"}
    return html.escape(names.get(metric, metric))


def _metrics_present(metrics: pd.DataFrame) -> list[str]:
    return [m for m in METRIC_ORDER if m in metrics and metrics[m].notna().any()]


def counts(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x method x backbone x prompt, summed over folds and seeds: the case counts."""
    data = metrics.assign(
        scored=metrics["status"].eq("ok"),
        failed=~metrics["status"].isin(["ok", "bad_input"]),
        bad_input=metrics["status"].eq("bad_input"),
        empty_ref=metrics["empty_ref"].astype(str).str.lower().eq("true"),
        empty_pred=metrics["empty_pred"].astype(str).str.lower().eq("true"))
    keys = [k for k in ("dataset", "method", "backbone", "prompt") if k in metrics]
    runs = data.drop_duplicates([*keys, "fold", "seed"]).groupby(keys).size().rename("n_runs")
    out = data.groupby(keys, sort=True).agg(
        n_total=("case_id", "size"), n_scored=("scored", "sum"), n_failed=("failed", "sum"),
        n_bad_input=("bad_input", "sum"), n_empty_ref=("empty_ref", "sum"),
        n_empty_pred=("empty_pred", "sum"))
    return out.join(runs).reset_index()


def protocol_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """The evaluation protocol per dataset, as recorded in the metrics files."""
    cols = [c for c in ("hd95_definition", "empty_policy", "nsd_tolerance", "threshold",
                        "distance_unit") if c in metrics]
    return metrics[["dataset", *cols]].drop_duplicates().sort_values("dataset")


def _summary(metrics: pd.DataFrame, names: list[str]) -> str:
    table = stats.summarize(metrics, names)
    table["95% CI"] = [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(table.ci_low, table.ci_high,
                                                                  strict=True)]
    cols = ["dataset", "entry", "n", "mean", "95% CI", "median", "iqr", "seed_sd"]
    parts = [f"<h4>{_heading(m)}</h4>" + _table(table[table.metric == m][cols])
             for m in names]
    return _section("Per-cell summary", "".join(parts),
                    "Mean with percentile-bootstrap 95% CI (cases resampled, seeds too where "
                    "there are several), median, IQR and the SD of per-seed means.")


def _wilcoxon(metrics: pd.DataFrame, names: list[str]) -> str:
    parts = []
    for m in names:
        table = stats.pairwise_wilcoxon(metrics, m)
        body = (_table(table.drop(columns="metric"), "{:.3g}") if not table.empty
                else "<p>needs >= 2 methods scored on the same cases of one dataset</p>")
        parts.append(f"<h4>{_heading(m)}</h4>{body}")
    return _section("Paired Wilcoxon signed-rank tests (Holm-corrected per dataset)",
                    "".join(parts), "Two-sided, on seed-averaged per-case scores; median_diff "
                    "= a - b.")


CD_MIN = 3  # methods and datasets a CD diagram needs to say more than one pairwise test would


def cd_left_out(metrics: pd.DataFrame, metric: str) -> str:
    """Why the critical-difference diagram of ``metric`` is left out ('' when it is drawn): with
    fewer than 3 entries it is one pair (the Wilcoxon table says more), and over fewer than 3
    datasets the Friedman ranks of N blocks take too few values to separate anything."""
    table = stats.dataset_means(metrics, metric)
    n, k = table.shape
    if k >= CD_MIN and n >= CD_MIN:
        return ""
    return (f"No critical-difference diagram: it needs >= {CD_MIN} entries scored on every one "
            f"of >= {CD_MIN} datasets, and this grid has {k} entr{'y' if k == 1 else 'ies'} "
            f"over {n} dataset{'' if n == 1 else 's'}; the paired tests above compare them.")


def _friedman(metrics: pd.DataFrame, names: list[str], fig_dir: Path) -> str:
    parts = []
    reasons = {m: cd_left_out(metrics, m) for m in names}
    if names and all(reasons.values()) and len(set(reasons.values())) == 1:
        return _section("Across datasets: Friedman test and critical-difference diagram",
                        f"<p class='cd-left-out'>{html.escape(reasons[names[0]])}</p>")
    for m in names:
        if reasons[m]:
            parts.append(f"<h4>{_heading(m)}</h4><p class='cd-left-out'>"
                         f"{html.escape(reasons[m])}</p>")
            continue
        res = stats.friedman_nemenyi(metrics, m)
        if "skip" in res:
            parts.append(f"<h4>{_heading(m)}</h4><p>{html.escape(res['skip'])}</p>")
            continue
        png = stats.cd_diagram(res["avg_ranks"], res["cd"], Path(fig_dir) / f"cd_{m}.png",
                               title=f"{m}: Friedman p = {res['p']:.3g}, N = {res['n']}")
        ranks = res["avg_ranks"].rename("average rank").reset_index()
        parts.append(
            f"<h4>{_heading(m)}</h4><p>Friedman chi2 = {res['statistic']:.3f}, "
            f"p = {res['p']:.3g} over N = {res['n']} datasets, k = {res['k']}; Nemenyi CD "
            f"(alpha 0.05) = {res['cd']:.3f}.</p>"
            + png_img(png.read_bytes(), f"CD diagram {m}") + _table(ranks))
    return _section("Across datasets: Friedman test and critical-difference diagram",
                    "".join(parts), "Rank 1 = best; distances rank lower-is-better.")


def _stability(metrics: pd.DataFrame, names: list[str]) -> str:
    tables = [stats.rank_stability(metrics, m) for m in names]
    tables = [t for t in tables if not t.empty]
    if not tables:
        return _section("Rank stability", "<p>needs >= 2 methods</p>")
    return _section("Rank stability (bootstrap of cases, per dataset)",
                    _table(pd.concat(tables, ignore_index=True), "{:.2f}"))


def stats_sections(metrics: pd.DataFrame, fig_dir: Path) -> list[str]:
    """HTML fragments: summaries, Wilcoxon, Friedman/CD, rank stability.

    CD diagrams are written into ``fig_dir`` (for papers) and also inlined in the HTML.
    """
    out: list[str] = []
    names = _metrics_present(metrics)
    if not names:
        return [*out, _section("Statistics", "<p>no scored metric values</p>")]
    tested = [m for m in TESTED if m in names]
    out.append(_summary(metrics, names))
    out.append(_wilcoxon(metrics, tested))
    out.append(_friedman(metrics, tested, fig_dir))
    out.append(_stability(metrics, tested))
    return out
