"""Figures of the report, drawn from the summary tables only (style guide B5), as PNG bytes.

Entries go on the vertical axis (one row each) so labels stay readable at any number of methods;
the figure grows with the number of entries instead of squeezing them.
"""

from __future__ import annotations

from typing import NamedTuple

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


IMAGES, PATCHES = "2D images/s", "3D patches/s"


def throughput_unit(speed: pd.DataFrame) -> pd.Series:
    """What ``images_per_s`` counts per row: whole 2D images, or 3D patches (one network forward
    per sliding window) for a patch method, whose per-sample ``input_shape`` has four numbers."""
    shape = speed["input_shape"] if "input_shape" in speed else pd.Series("", index=speed.index)
    dims = shape.fillna("").astype(str).str.count(r"\d+")
    return dims.eq(4).map({True: PATCHES, False: IMAGES})


class Drawn(NamedTuple):
    """A figure's PNG with the entries it plots and the labels its legends show (the report's
    browser test checks that every plotted entry is named in a legend)."""

    png: bytes
    plotted: list[str]
    legend: list[str]


def legend_labels(fig) -> list[str]:
    """Every label of every legend of ``fig`` (figure-level and per-axes)."""
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
    return sorted({t.get_text() for leg in legends if leg is not None for t in leg.get_texts()})


def _pareto_panel(ax, group: pd.DataFrame, entries: list[str], colors, title: str,
                  unit: str) -> None:
    for _, row in group.iterrows():
        ax.scatter(row["images_per_s"], row["dice_mean"], s=60,
                   color=colors(entries.index(row["entry"]) % 20), label=row["entry"],
                   edgecolor="k")
    front = pareto_front(group, "images_per_s", "dice_mean")
    ax.plot(front["images_per_s"], front["dice_mean"], "--o", color="0.4", lw=1, ms=14,
            mfc="none", label="Pareto front (not beaten on both axes)")
    ax.set_xscale("log")
    ax.set(title=title, xlabel=f"throughput [{unit}, log scale]", ylabel="mean Dice",
           ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)


def pareto_figure(summary: pd.DataFrame, speed: pd.DataFrame) -> Drawn | None:
    """Mean Dice against offline throughput (log scale), one panel per dataset and throughput
    unit (2D images/s and 3D patches/s never share an axis), the Pareto front drawn, one legend
    naming every plotted entry; ``None`` when no entry has both numbers."""
    speed = speed.assign(unit=throughput_unit(speed))
    merged = summary.merge(speed[["method", "backbone", "images_per_s", "device", "size", "unit"]],
                           on=["method", "backbone"]).dropna(subset=["images_per_s", "dice_mean"])
    if merged.empty:
        return None
    plt = _pyplot()
    merged = merged.assign(entry=stats.entry_label(merged))
    panels = sorted(merged.groupby(["dataset", "unit"]).groups)
    entries = sorted(merged["entry"].unique())
    colors = plt.get_cmap("tab20")
    fig, axes = plt.subplots(1, len(panels), squeeze=False,
                             figsize=(2.5 + 5 * len(panels), 4 + 0.12 * len(entries)))
    for ax, (dataset, unit) in zip(axes[0], panels, strict=True):
        group = merged[(merged["dataset"] == dataset) & (merged["unit"] == unit)]
        _pareto_panel(ax, group, entries, colors, f"{dataset}: {unit}", unit)
    # one handle per label over all panels: an entry plotted on the second panel only (a 3D
    # method) must be named too
    handles = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    labels = sorted(handles, key=lambda name: (name not in entries, name))  # the front last
    fig.legend([handles[name] for name in labels], labels, loc="center left",
               bbox_to_anchor=(1.0, 0.5), fontsize=8)
    devices = ", ".join(sorted({f"{d} @ {s} px" for d, s in zip(merged["device"], merged["size"],
                                                                  strict=True)}))
    fig.suptitle(f"Dice vs throughput (best batch, {devices}); up and right is better", y=1.0)
    fig.tight_layout()
    legend = legend_labels(fig)
    return Drawn(figure_png(fig), entries, legend)
