"""Figures of the report, drawn from the summary tables only (style guide B5), as PNG bytes.

Entries go on the vertical axis (one row each) so labels stay readable at any number of methods;
the figure grows with the number of entries instead of squeezing them.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.report.blocks import figure_png
from benchmarks.scoring import stats


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def distribution_figure(metrics: pd.DataFrame, metric: str = "dice") -> bytes:
    """Per-case ``metric`` per entry, one panel per dataset: box (IQR) plus one dot per case,
    coloured by case status."""
    import seaborn as sns

    plt = _pyplot()
    data = metrics.assign(entry=stats.entry_label(metrics))
    datasets = sorted(data["dataset"].unique())
    n_entries = data["entry"].nunique()
    fig, axes = plt.subplots(1, len(datasets), squeeze=False, sharey=True,
                             figsize=(2 + 5 * len(datasets), 1.6 + 0.45 * n_entries))
    order = sorted(data["entry"].unique())
    for ax, dataset in zip(axes[0], datasets, strict=True):
        group = data[data["dataset"] == dataset]
        sns.boxplot(data=group, y="entry", x=metric, order=order, ax=ax, color="#ddd",
                    fliersize=0, orient="h")
        sns.stripplot(data=group, y="entry", x=metric, order=order, hue="status", ax=ax,
                      size=4, orient="h", jitter=0.2)
        ax.set(title=dataset, ylabel="",
               xlabel=f"{metric} per case" + (" (1 = perfect)" if metric == "dice" else ""))
        if metric == "dice":
            ax.set_xlim(-0.02, 1.02)
    fig.suptitle(f"Per-case {metric}: box = IQR, dots = test cases", y=1.0)
    fig.tight_layout()
    return figure_png(fig)


def pareto_front(points: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """The points no other point beats on both ``x`` and ``y`` (higher is better on both),
    sorted by ``x``."""
    ordered = points.sort_values([x, y], ascending=[False, False])
    front, best = [], float("-inf")
    for _, row in ordered.iterrows():
        if row[y] > best:
            front.append(row)
            best = row[y]
    return pd.DataFrame(front).sort_values(x) if front else points.iloc[:0]


def pareto_figure(summary: pd.DataFrame, speed: pd.DataFrame) -> bytes | None:
    """Mean Dice against offline throughput (images/s, log scale), one panel per dataset, the
    Pareto front drawn; ``None`` when no entry has both numbers."""
    merged = summary.merge(speed[["method", "backbone", "images_per_s", "device", "size"]],
                           on=["method", "backbone"]).dropna(subset=["images_per_s", "dice_mean"])
    if merged.empty:
        return None
    plt = _pyplot()
    merged = merged.assign(entry=stats.entry_label(merged))
    datasets = sorted(merged["dataset"].unique())
    entries = sorted(merged["entry"].unique())
    colors = plt.get_cmap("tab20")
    fig, axes = plt.subplots(1, len(datasets), squeeze=False,
                             figsize=(2.5 + 5 * len(datasets), 4 + 0.12 * len(entries)))
    for ax, dataset in zip(axes[0], datasets, strict=True):
        group = merged[merged["dataset"] == dataset]
        for _, row in group.iterrows():
            ax.scatter(row["images_per_s"], row["dice_mean"], s=60,
                       color=colors(entries.index(row["entry"]) % 20), label=row["entry"],
                       edgecolor="k")
        front = pareto_front(group, "images_per_s", "dice_mean")
        ax.plot(front["images_per_s"], front["dice_mean"], "--o", color="0.4", lw=1, ms=14,
                mfc="none", label="Pareto front (not beaten on both axes)")
        ax.set_xscale("log")
        ax.set(title=dataset, xlabel="throughput [images/s, log scale]", ylabel="mean Dice",
               ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    devices = ", ".join(sorted({f"{d} @ {s} px" for d, s in zip(merged["device"], merged["size"],
                                                                  strict=True)}))
    fig.suptitle(f"Dice vs throughput (best batch, {devices}); up and right is better", y=1.0)
    fig.tight_layout()
    return figure_png(fig)
