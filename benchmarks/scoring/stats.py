"""Statistics over the tidy per-case metrics table (``shared/docs/metric-conventions.md`` §2.7-2.9).

Input: a DataFrame with columns ``dataset, method, backbone, fold, seed, case_id, <metric>...``.
An *entry* is one method with one backbone (``method/backbone``); a *cell* is an entry on one
dataset. Folds are pooled (out-of-fold cases, as nnU-Net pools folds); seeds are averaged per case
before testing and resampled alongside cases in the bootstrap.

- :func:`summarize`: n, mean, median, IQR, seed SD and a bootstrap 95 % CI per cell and metric.
- :func:`pairwise_wilcoxon`: paired Wilcoxon signed-rank per dataset, Holm-corrected.
- :func:`friedman_nemenyi`: Friedman test across datasets, Nemenyi critical difference.
- :func:`rank_stability`: bootstrap of cases, re-ranking per dataset.
- :func:`cd_diagram`: the critical-difference figure (matplotlib, Agg).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as ss

from benchmarks.core.io import atomic_path
from benchmarks.core.registry import NO_PROMPT, REFERENCE_INFORMED_SUFFIX, REFERENCE_INFORMED_TAG

LOWER_IS_BETTER = frozenset({"hd95", "hd", "assd"})
CELL = ("dataset", "entry")


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better (distances): ranks flip for these."""
    return metric in LOWER_IS_BETTER


def entry_label(df: pd.DataFrame) -> pd.Series:
    """``method/backbone``, plus ``/<prompt>`` for prompted entries (part of a result's label);
    entries whose prompts saw the reference on every slice (``*_allslices``) also carry
    ``REFERENCE_INFORMED_TAG``, so no table, test or figure ranks them unlabelled beside
    automatic rows."""
    label = df["method"].astype(str) + "/" + df["backbone"].astype(str)
    if "prompt" in df:
        prompt = df["prompt"].fillna(NO_PROMPT).astype(str)
        label = label.where(prompt.eq(NO_PROMPT), label + "/" + prompt)
        informed = prompt.str.endswith(REFERENCE_INFORMED_SUFFIX)
        label = label.where(~informed, label + " " + REFERENCE_INFORMED_TAG)
    return label


def with_entry(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with an ``entry`` column (:func:`entry_label`)."""
    out = df.copy()
    out["entry"] = entry_label(out)
    return out


def case_matrix(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Seed-averaged case scores of one dataset: rows case_id, columns entry (NaN if absent)."""
    data = with_entry(df) if "entry" not in df else df
    return data.pivot_table(index="case_id", columns="entry", values=metric, aggfunc="mean")


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of a seeds x cases matrix (NaN = missing).

    Seeds (rows) and cases (columns) are resampled independently, so seed-to-seed spread widens
    the interval only when there are several seeds.
    """
    v = np.atleast_2d(np.asarray(values, float))
    ok = ~np.isnan(v)
    if not ok.any():
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    n_s, n_c = v.shape
    w_s = np.stack([np.bincount(r, minlength=n_s) for r in rng.integers(n_s, size=(n_boot, n_s))])
    w_c = np.stack([np.bincount(r, minlength=n_c) for r in rng.integers(n_c, size=(n_boot, n_c))])
    num = np.einsum("bs,sc,bc->b", w_s, np.where(ok, v, 0.0), w_c)
    den = np.einsum("bs,sc,bc->b", w_s, ok.astype(float), w_c)
    means = num[den > 0] / den[den > 0]
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def _cell_summary(cell: pd.DataFrame, metric: str, n_boot: int, seed: int) -> dict[str, float]:
    values = cell[metric].to_numpy(float)
    values = values[~np.isnan(values)]
    if not values.size:
        return {"n": 0} | dict.fromkeys(("mean", "median", "q1", "q3", "iqr", "seed_sd",
                                         "ci_low", "ci_high"), math.nan)
    q1, q3 = np.percentile(values, [25, 75])
    grid = cell.pivot_table(index="seed", columns="case_id", values=metric, aggfunc="mean")
    seed_means = grid.mean(axis=1)
    low, high = bootstrap_ci(grid.to_numpy(float), n_boot, seed)
    return {"n": int(values.size), "mean": float(values.mean()), "median": float(np.median(values)),
            "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1),
            "seed_sd": float(seed_means.std(ddof=1)) if len(seed_means) > 1 else math.nan,
            "ci_low": low, "ci_high": high}


def summarize(df: pd.DataFrame, metrics: list[str], n_boot: int = 2000,
              seed: int = 0) -> pd.DataFrame:
    """Per cell and metric: n, mean, median, q1, q3, IQR, seed SD, bootstrap 95 % CI."""
    data = with_entry(df)
    rows = []
    for (dataset, entry), cell in data.groupby(list(CELL), sort=True):
        for metric in metrics:
            rows.append({"dataset": dataset, "entry": entry, "metric": metric,
                         **_cell_summary(cell, metric, n_boot, seed)})
    return pd.DataFrame(rows)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(pvalues, float)
    order = np.argsort(p, kind="stable")
    scaled = (len(p) - np.arange(len(p))) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def _wilcoxon(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if np.allclose(x, y):
        return 0.0, 1.0  # no difference at all: scipy refuses; the honest p-value is 1
    res = ss.wilcoxon(x, y)
    return float(res.statistic), float(res.pvalue)


def pairwise_wilcoxon(df: pd.DataFrame, metric: str, alpha: float = 0.05) -> pd.DataFrame:
    """Paired two-sided Wilcoxon signed-rank tests between all entries, per dataset.

    Pairs use cases scored by both entries (seed-averaged). Holm correction runs over all pairs
    of one dataset. ``better`` names the entry with the better median difference.
    """
    rows = []
    for dataset, part in with_entry(df).groupby("dataset", sort=True):
        mat = case_matrix(part, metric)
        pairs = []
        for a, b in itertools.combinations(mat.columns, 2):
            both = mat[[a, b]].dropna()
            if len(both) < 2:
                continue
            stat, p = _wilcoxon(both[a].to_numpy(), both[b].to_numpy())
            diff = float(np.median(both[a] - both[b]))
            good = -diff if lower_is_better(metric) else diff
            better = a if good > 0 else b if good < 0 else ""
            pairs.append({"dataset": dataset, "metric": metric, "a": a, "b": b, "n": len(both),
                          "median_diff": diff, "statistic": stat, "p": p, "better": better})
        if pairs:
            table = pd.DataFrame(pairs)
            table["p_holm"] = holm(table["p"].to_numpy())
            table["significant"] = table["p_holm"] < alpha
            rows.append(table)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def dataset_means(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Blocks for Friedman: rows dataset, columns entry; entries missing a dataset are dropped."""
    data = with_entry(df)
    table = data.pivot_table(index="dataset", columns="entry", values=metric, aggfunc="mean")
    return table.dropna(axis=1)


def rank_rows(table: pd.DataFrame | np.ndarray, metric: str) -> np.ndarray:
    """Ranks within each row, 1 = best; ties share the average rank."""
    values = np.asarray(table, float)
    return ss.rankdata(values if lower_is_better(metric) else -values, axis=1)


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference: q_alpha(k, inf) / sqrt(2) * sqrt(k(k+1) / (6N))."""
    q = ss.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n)))


def friedman(ranks: np.ndarray) -> tuple[float, float]:
    """Friedman chi-square (tie-corrected, as scipy) and p-value from an N x k rank matrix.

    When every block ties all methods the statistic is 0/0 (scipy returns NaN); there is then no
    evidence of any difference, so this returns ``(0.0, 1.0)``.
    """
    n, k = ranks.shape
    r_sum = ranks.sum(axis=0)
    stat = 12.0 / (n * k * (k + 1)) * float((r_sum**2).sum()) - 3.0 * n * (k + 1)
    ties = sum(float((c**3 - c).sum()) for c in
               (np.unique(row, return_counts=True)[1] for row in ranks))
    correction = 1.0 - ties / (n * k * (k * k - 1))
    if correction <= 0.0:
        return 0.0, 1.0
    stat /= correction
    return stat, float(ss.chi2.sf(stat, k - 1))


def friedman_nemenyi(df: pd.DataFrame, metric: str, alpha: float = 0.05) -> dict:
    """Friedman test over datasets (blocks) and Nemenyi CD for one metric.

    Returns a dict with ``avg_ranks`` (Series, best first), ``statistic``, ``p``, ``cd``, ``n``,
    ``k`` and ``pvalues`` (pairwise Nemenyi, DataFrame), or ``{"skip": reason}``.
    """
    table = dataset_means(df, metric)
    n, k = table.shape
    if k < 2 or n < 2:
        return {"skip": f"needs >= 2 methods and >= 2 datasets (have {k} and {n})"}
    ranks = rank_rows(table, metric)
    stat, p = friedman(ranks)
    avg = pd.Series(ranks.mean(axis=0), index=table.columns).sort_values()
    diff = np.abs(avg.to_numpy()[:, None] - avg.to_numpy()[None, :])
    q = diff / math.sqrt(k * (k + 1) / (6.0 * n)) * math.sqrt(2)
    pvalues = np.array(ss.studentized_range.sf(q, k, np.inf))
    np.fill_diagonal(pvalues, 1.0)
    pvals = pd.DataFrame(pvalues, index=avg.index, columns=avg.index)
    return {"avg_ranks": avg, "statistic": stat, "p": p, "cd": nemenyi_cd(k, n, alpha),
            "n": n, "k": k, "pvalues": pvals}


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b between two rankings (1.0 when either is constant and they agree)."""
    if np.array_equal(a, b):
        return 1.0
    return float(ss.kendalltau(a, b).statistic)


def rank_stability(df: pd.DataFrame, metric: str, n_boot: int = 1000,
                   seed: int = 0) -> pd.DataFrame:
    """Bootstrap cases per dataset and re-rank the entries by their mean.

    Returns per dataset and entry: rank on all cases, mean bootstrap rank, 2.5/97.5 % rank
    quantiles, P(rank 1), and the mean Kendall tau between bootstrap and full ranking.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for dataset, part in with_entry(df).groupby("dataset", sort=True):
        mat = case_matrix(part, metric).dropna()
        if mat.shape[1] < 2 or mat.empty:
            continue
        values = mat.to_numpy(float)
        full = rank_rows(values.mean(axis=0)[None, :], metric)[0]
        idx = rng.integers(len(values), size=(n_boot, len(values)))
        boot = rank_rows(values[idx].mean(axis=1), metric)
        tau = float(np.mean([kendall_tau(full, r) for r in boot]))
        for j, entry in enumerate(mat.columns):
            rows.append({"dataset": dataset, "metric": metric, "entry": entry,
                         "rank": full[j], "mean_rank": boot[:, j].mean(),
                         "rank_lo": np.quantile(boot[:, j], 0.025),
                         "rank_hi": np.quantile(boot[:, j], 0.975),
                         "p_first": float(np.mean(boot[:, j] == 1)), "kendall_tau": tau})
    return pd.DataFrame(rows)


def cliques(avg_ranks: pd.Series, cd: float) -> list[tuple[int, int]]:
    """Maximal runs (start, end index in ``avg_ranks`` order) whose rank span is <= CD."""
    r = avg_ranks.to_numpy()
    runs = []
    for i in range(len(r)):
        j = int(np.searchsorted(r, r[i] + cd, side="right")) - 1
        if j > i and not any(s <= i and j <= e for s, e in runs):
            runs.append((i, j))
    return runs


def cd_diagram(avg_ranks: pd.Series, cd: float, path: str | Path, title: str = "") -> Path:
    """Draw the critical-difference diagram (Demšar 2006) to ``path`` (PNG, atomic write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(avg_ranks)
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.32 * k))
    ax.set_xlim(k + 0.5, 0.5)  # rank 1 (best) on the right, as in Demšar's figures
    ax.set_ylim(-(k + 2), 2)
    ax.hlines(0, 1, k, color="k")
    for tick in range(1, k + 1):
        ax.vlines(tick, 0, 0.3, color="k")
        ax.text(tick, 0.5, str(tick), ha="center", fontsize=8)
    ax.hlines(1.4, 1, 1 + cd, color="firebrick", lw=2)
    ax.text(1 + cd / 2, 1.6, f"CD = {cd:.2f}", ha="center", fontsize=8, color="firebrick")
    for i, (name, rank) in enumerate(avg_ranks.items()):
        y = -(i + 1)
        ax.plot([rank, rank], [0, y], color="0.4", lw=0.8)
        ax.text(rank, y - 0.1, f"{name} ({rank:.2f})", ha="center", va="top", fontsize=8)
    for n_run, (s, e) in enumerate(cliques(avg_ranks, cd)):
        ax.hlines(-0.4 - 0.25 * n_run, avg_ranks.iloc[s] - 0.05, avg_ranks.iloc[e] + 0.05, lw=3)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
