"""The benchmark report: one self-contained HTML file built from ``results/summary`` only.

Plots and tables read the summary tables and never recompute metrics (style guide B5).
"""

from __future__ import annotations

import html
import io
import time
from pathlib import Path

import pandas as pd

from benchmarks import provenance, report_stats, stats
from benchmarks.io import read_table, write_text

CSS = """body{font-family:sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;
text-align:right}th{background:#eee}.warn{color:#a00;font-weight:bold}"""


def headline_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Method x dataset table of ``mean ± std (n)`` for Dice, with IoU and HD95 columns."""
    def cell(row: pd.Series, name: str) -> str:
        return f"{row[f'{name}_mean']:.3f} ± {row[f'{name}_std']:.3f} (n={row['n_cases']})"

    rows = []
    for _, row in summary.iterrows():
        rows.append({"method": row["method"], "backbone": row["backbone"],
                     "prompt": row["prompt"],
                     "dataset": row["dataset"], "Dice": cell(row, "dice"),
                     "IoU": cell(row, "iou"),
                     f"HD95 [{row['distance_unit']}]": cell(row, "hd95"),
                     "failed": row["n_failed"], "weights": row["weights"],
                     "training": row.get("training", "trained")})
    return pd.DataFrame(rows)


def dice_pivot(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows method/backbone(/prompt), columns datasets, cells Dice ``mean ± std (n)``."""
    summary = summary.assign(
        label=stats.entry_label(summary),
        value=[f"{m:.3f} ± {s:.3f} (n={n})" for m, s, n in
               zip(summary["dice_mean"], summary["dice_std"], summary["n_cases"],
                   strict=True)])
    return summary.pivot(index="label", columns="dataset", values="value").fillna("–")


def distribution_figure(metrics: pd.DataFrame) -> bytes:
    """Per-case Dice per method and dataset (box + points), as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = metrics.assign(label=stats.entry_label(metrics))
    n_ds = data["dataset"].nunique()
    fig, axes = plt.subplots(1, n_ds, figsize=(4 + 3 * n_ds, 4), squeeze=False)
    for ax, (dataset, group) in zip(axes[0], data.groupby("dataset"), strict=True):
        sns.boxplot(data=group, x="label", y="dice", ax=ax, color="#ddd", fliersize=0)
        sns.stripplot(data=group, x="label", y="dice", hue="status", ax=ax, size=4)
        ax.set(title=dataset, xlabel="", ylabel="Dice per case", ylim=(-0.02, 1.02))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _section(title: str, body: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n{body}\n"


def _table(df: pd.DataFrame, empty: str) -> str:
    return df.to_html(index=False, na_rep="–") if len(df) else f"<p>{empty}</p>"


def _random_init_warning(summary: pd.DataFrame) -> str:
    rand = summary[summary["weights"].str.contains("random_init")]
    if rand.empty:
        return ""
    names = ", ".join(sorted(set(rand["method"])))
    return (f'<p class="warn">Random init: {html.escape(names)} ran without pretrained weights; '
            "their numbers measure the pipeline, not the published method.</p>")


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
    """Assemble the report from the summary tables in ``summary_dir``; figures go to ``fig_dir``."""
    summary = read_table(summary_dir / "summary.csv")
    metrics = read_table(summary_dir / "metrics.csv")
    skipped_path = summary_dir / "skipped.tsv"
    skipped = read_table(skipped_path) if skipped_path.exists() else pd.DataFrame()
    status = read_table(summary_dir / "status.csv")
    failures = status[status["state"] != "done"]
    parts = [
        f"<h1>samseg-bench report</h1><p>generated {time.strftime('%Y-%m-%d %H:%M:%S')}, "
        f"git {provenance.git_sha()[:12]}</p>",
        _random_init_warning(summary),
        _zero_shot_note(summary),
        _section("Dice by method and dataset (mean ± std, n cases)",
                 dice_pivot(summary).to_html()),
        _section("All headline metrics", _table(headline_table(summary), "no cells")),
        _section("Per-case Dice", report_stats.png_img(distribution_figure(metrics),
                                                       "per-case Dice")),
        _section("Counts per cell", _table(summary.drop(
            columns=[c for c in summary if c.endswith(("_mean", "_std"))]), "none")),
        _section("Statistics", "".join(report_stats.stats_sections(metrics, fig_dir))),
        _section("Failed or unfinished stages", _table(failures, "none: every stage finished")),
        _section("Skipped grid cells", _table(skipped, "none")),
        _section("Jobs: wall time and peak RSS", _table(read_table(summary_dir / "jobs.csv"),
                                                        "no benchmark files")),
    ]
    return f"<!doctype html><html><head><meta charset='utf-8'><style>{CSS}</style>" \
           f"<title>samseg-bench report</title></head><body>{''.join(parts)}</body></html>\n"


def run(summary_dir: Path, out: Path) -> None:
    """Write the HTML report atomically."""
    write_text(out, build_html(summary_dir, out.parent / "figures"))
