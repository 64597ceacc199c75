"""The interactive protocol's section: Dice per round with CI bands, AUCs with CIs and tests,
and what one interaction costs.

Reads the per-case columns that evaluate writes for ``box<J>clicks<N>`` cells (``dice_r<k>``,
``*_auc_clicks``, ``*_auc_all``, ``round_*_mean``; :mod:`benchmarks.scoring.interactive`), never
recomputes a metric. Entries are ``method/backbone/prompt`` as everywhere in the report.
"""

from __future__ import annotations

import html

import pandas as pd

from benchmarks.report import blocks as rh
from benchmarks.report.figures import _pyplot
from benchmarks.scoring import interactive, stats

AUC_METRICS = ("dice_auc_clicks", "nsd_auc_clicks", "nsd_cvpr25_auc_clicks", "dice_auc_all",
               "dice_box", "dice_final")
TIMES = ("round_seconds_mean", "round_click_seconds_mean", "round_decode_seconds_mean")


def interactive_rows(metrics: pd.DataFrame) -> pd.DataFrame:
    """The scored rows of interactive cells (data problems left out, failures kept at 0)."""
    if "n_click_rounds" not in metrics:
        return metrics.iloc[0:0]
    rows = metrics[metrics["n_click_rounds"].notna() & metrics["status"].ne("bad_input")]
    return stats.with_entry(rows)


def curve(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean Dice per (dataset, entry, round) with the bootstrap 95 % CI over cases (and seeds)."""
    out = []
    for (dataset, entry), cell in rows.groupby(["dataset", "entry"], sort=True):
        n_rounds = int(cell["n_click_rounds"].max()) + 1
        for rnd in range(n_rounds):
            column = f"dice_r{rnd}"
            grid = cell.pivot_table(index="seed", columns=["fold", "case_id"], values=column,
                                    aggfunc="mean")
            low, high = stats.bootstrap_ci(grid.to_numpy(float))
            out.append({"dataset": dataset, "entry": entry, "round": rnd,
                        "dice": float(cell[column].mean()), "ci_low": low, "ci_high": high,
                        "n": int(cell[column].notna().sum())})
    return pd.DataFrame(out)


def curve_figure(table: pd.DataFrame) -> bytes:
    """Dice against the round (0 = box alone), one line and CI band per entry, a panel per
    dataset."""
    plt = _pyplot()
    datasets = sorted(table["dataset"].unique())
    fig, axes = plt.subplots(1, len(datasets), squeeze=False, sharey=True,
                             figsize=(1 + 5 * len(datasets), 4))
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for entry, line in table[table["dataset"] == dataset].groupby("entry", sort=True):
            ax.plot(line["round"], line["dice"], marker="o", label=entry)
            ax.fill_between(line["round"], line["ci_low"], line["ci_high"], alpha=0.2)
        ax.set(title=dataset, xlabel="round (0 = box, k = after click k)", ylabel="mean Dice",
               ylim=(0, 1.02))
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle("Dice per interaction round, band = 95 % bootstrap CI over cases")
    fig.tight_layout()
    return rh.figure_png(fig)


def auc_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows (dataset, entry); cells ``mean [95 % CI]`` of each AUC and of box/final Dice."""
    present = [m for m in AUC_METRICS if m in rows and rows[m].notna().any()]
    summary = stats.summarize(rows, present)
    summary["value"] = [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in
                        zip(summary["mean"], summary["ci_low"], summary["ci_high"], strict=True)]
    table = summary.pivot_table(index=["dataset", "entry"], columns="metric", values="value",
                                aggfunc="first")[present]
    counts = summary.groupby(["dataset", "entry"])["n"].max().rename("n_cases")
    return table.join(counts).reset_index()


def time_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Median over cases of each case's mean click-round time, in milliseconds."""
    present = [t for t in TIMES if t in rows]
    table = rows.groupby(["dataset", "entry"])[present].median() * 1000
    table.columns = [c.replace("round_", "").replace("_mean", "").replace("seconds", "ms")
                     for c in table.columns]
    clicks = rows.groupby(["dataset", "entry"])["n_clicks_placed"].mean().rename(
        "clicks_placed_mean")
    return table.join(clicks).reset_index()


def section(metrics: pd.DataFrame) -> str:
    """The report's section ('' when no interactive cell was scored)."""
    rows = interactive_rows(metrics)
    if rows.empty:
        return ""
    png = curve_figure(curve(rows))
    tests = stats.pairwise_wilcoxon(rows, "dice_auc_clicks")
    n_clicks = int(rows["n_click_rounds"].max())
    note = (f"A box, then {n_clicks} corrective clicks, each at the deepest voxel (EDT maximum) "
            "of the largest connected error component of the method's own previous mask "
            "(26-connectivity in 3D), foreground where the reference is, else background; the "
            "rule of the CVPR 2025 interactive 3D challenge evaluator (CVPR25_iter_eval.py). "
            f"*_auc_clicks: trapezoid over {interactive.AUC_COVERAGE['clicks']} (unit spacing, "
            f"at most {n_clicks - 1}); *_auc_all: over {interactive.AUC_COVERAGE['all']}. "
            "nsd: ours (empty policy, eval.nsd_tolerance); nsd_cvpr25: the anchor's (tolerance "
            "2, 0 where Dice <= 0.2, empty references not scored). Times: per click round, "
            "our click, the method's decode on its cached embedding, and the whole round (what "
            "a user waits); the encoder runs once per image, outside the rounds.")
    body = (rh.png_img(png, "Dice per interaction round with CI bands")
            + "<h3>AUCs, mean [95 % CI]</h3>" + rh.table(auc_table(rows), "none")
            + "<h3>Paired tests on dice_auc_clicks (Wilcoxon, Holm)</h3>"
            + rh.table(tests, "fewer than two entries with shared cases", "{:.4g}")
            + "<h3>Time per interaction [ms]</h3>" + rh.table(time_table(rows), "none", "{:.1f}"))
    return (f"<section id='interactive'><h2>Interactive: box, then corrective clicks</h2>"
            f"<p class='note'>{html.escape(note)}</p>{body}</section>")
