"""Known-answer tests of benchmarks/scoring/stats.py (vs scipy.stats / scikit-posthocs) and of the
report's significance sections."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as ss

from benchmarks.report import significance
from benchmarks.scoring import stats

sp = pytest.importorskip("scikit_posthocs", reason="scikit-posthocs is a test-only dependency")


def _tidy(scores: dict[tuple[str, str], np.ndarray], seeds: int = 1) -> pd.DataFrame:
    """Per-case rows for {(dataset, method): per-case dice}; hd95 = 10 * (1 - dice)."""
    rows = []
    for (dataset, method), values in scores.items():
        for seed in range(seeds):
            for i, v in enumerate(values):
                rows.append({"dataset": dataset, "method": method, "backbone": "vit_b",
                             "fold": i % 2, "seed": seed, "case_id": f"c{i}",
                             "dice": v + 0.01 * seed, "hd95": 10 * (1 - v - 0.01 * seed),
                             "status": "ok", "empty_ref": i == 0, "empty_pred": False})
    return pd.DataFrame(rows)


def test_holm_matches_hand_computation():
    # sorted p 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> monotone
    assert stats.holm(np.array([0.01, 0.04, 0.03, 0.005])) == pytest.approx(
        [0.03, 0.06, 0.06, 0.02])
    assert stats.holm(np.array([0.5, 0.9])) == pytest.approx([1.0, 1.0])  # 2 x 0.5 caps


def test_friedman_equals_scipy_with_ties():
    table = np.array([[1.0, 2.0, 2.0, 4.0], [3.0, 1.0, 2.0, 2.0], [0.5, 0.7, 0.9, 0.1],
                      [5.0, 5.0, 1.0, 2.0], [0.2, 0.3, 0.1, 0.4]])
    ranks = ss.rankdata(table, axis=1)
    expected = ss.friedmanchisquare(*table.T)
    assert stats.friedman(ranks) == pytest.approx((expected.statistic, expected.pvalue))


def test_friedman_with_every_block_tied_has_no_evidence():
    table = np.array([[0.0, 0.0, 0.0], [0.3, 0.3, 0.3]])  # e.g. NSD 0 for every method
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(ss.friedmanchisquare(*table.T).statistic)  # scipy: 0/0
    assert stats.friedman(ss.rankdata(table, axis=1)) == (0.0, 1.0)


@pytest.mark.parametrize("k, q_over_sqrt2", [(2, 1.960), (3, 2.343), (5, 2.728), (10, 3.164)],
                         ids=["k2", "k3", "k5", "k10"])
def test_nemenyi_cd_matches_demsar_table(k, q_over_sqrt2):
    n = 14
    expected = q_over_sqrt2 * np.sqrt(k * (k + 1) / (6 * n))
    assert stats.nemenyi_cd(k, n) == pytest.approx(expected, abs=2e-3)


def test_friedman_nemenyi_pvalues_equal_scikit_posthocs():
    rng = np.random.default_rng(0)
    means = {(f"d{d}", m): rng.random(6) + shift for d in range(5)
             for m, shift in (("a", 0.0), ("b", 0.1), ("c", 0.3), ("d", 0.35))}
    df = _tidy(means)
    res = stats.friedman_nemenyi(df, "dice")
    table = stats.dataset_means(df, "dice")
    expected = sp.posthoc_nemenyi_friedman(-table.to_numpy())  # ranks of -dice: 1 = best
    expected.index = expected.columns = table.columns
    got = res["pvalues"].loc[table.columns, table.columns]
    assert got.to_numpy() == pytest.approx(expected.to_numpy())
    fr = ss.friedmanchisquare(*(-table.to_numpy()).T)
    assert (res["statistic"], res["p"]) == pytest.approx((fr.statistic, fr.pvalue))


def test_lower_is_better_metrics_flip_ranks():
    table = np.array([[0.9, 0.5, 0.7]])
    assert list(stats.rank_rows(table, "dice")[0]) == [1, 3, 2]
    assert list(stats.rank_rows(table, "hd95")[0]) == [3, 1, 2]


def test_pairwise_wilcoxon_equals_scipy_and_names_the_better_method():
    rng = np.random.default_rng(1)
    a = rng.random(20)
    df = _tidy({("d", "a"): a, ("d", "b"): a - 0.05 - 0.02 * rng.random(20), ("d", "c"): a})
    for metric, better in (("dice", "a/vit_b"), ("hd95", "a/vit_b")):
        table = stats.pairwise_wilcoxon(df, metric).set_index(["a", "b"])
        row = table.loc[("a/vit_b", "b/vit_b")]
        x = df[df.method == "a"][metric].to_numpy()
        y = df[df.method == "b"][metric].to_numpy()
        assert row["p"] == pytest.approx(ss.wilcoxon(x, y).pvalue)
        assert row["better"] == better
        assert table.loc[("a/vit_b", "c/vit_b"), "p"] == 1.0  # identical scores
        assert table["p_holm"].to_numpy() == pytest.approx(stats.holm(table["p"].to_numpy()))


def test_summary_has_known_mean_median_iqr():
    df = _tidy({("d", "a"): np.array([0.1, 0.2, 0.3, 0.4, 1.0])})
    row = stats.summarize(df, ["dice"], n_boot=200).iloc[0]
    assert (row["n"], row["mean"], row["median"]) == (5, pytest.approx(0.4), pytest.approx(0.3))
    assert row["iqr"] == pytest.approx(0.4 - 0.2)
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]


def test_bootstrap_ci_is_zero_width_for_constant_scores_and_widens_with_seed_spread():
    assert stats.bootstrap_ci(np.full((1, 30), 0.7)) == pytest.approx((0.7, 0.7))
    cases = np.linspace(0.5, 0.9, 30)
    one_seed = stats.bootstrap_ci(np.vstack([cases, cases, cases]))
    spread = stats.bootstrap_ci(np.vstack([cases - 0.1, cases, cases + 0.1]))
    assert spread[1] - spread[0] > one_seed[1] - one_seed[0]
    with_nan = np.vstack([cases, cases])
    with_nan[0, 0] = np.nan
    assert np.isfinite(stats.bootstrap_ci(with_nan)).all()


def test_rank_stability_is_certain_for_a_dominating_method():
    a = np.linspace(0.6, 0.9, 15)
    df = _tidy({("d", "a"): a, ("d", "b"): a - 0.2, ("d", "c"): a - 0.4})
    table = stats.rank_stability(df, "dice", n_boot=100).set_index("entry")
    assert table.loc["a/vit_b", ["rank", "p_first", "kendall_tau"]].tolist() == [1, 1.0, 1.0]
    assert table.loc["c/vit_b", "rank_lo"] == 3


def test_cliques_join_methods_within_the_critical_difference():
    ranks = pd.Series([1.0, 1.5, 2.9, 3.2], index=list("abcd"))
    assert stats.cliques(ranks, 1.0) == [(0, 1), (2, 3)]


def test_stats_sections_with_one_method_say_what_is_needed(tmp_path):
    df = _tidy({("d", "a"): np.array([0.5, 0.6, 0.7])})
    html = "".join(significance.stats_sections(df, tmp_path / "figures"))
    assert "needs &gt;= 2 methods" in html or "needs >= 2 methods" in html
    assert not (tmp_path / "figures").exists()


def test_stats_sections_draw_the_cd_diagram_and_count_cases(tmp_path):
    rng = np.random.default_rng(2)
    df = _tidy({(f"d{d}", m): rng.random(8) for d in range(3) for m in "abc"}, seeds=2)
    df.loc[df.index[:3], "status"] = "failed"
    html = "".join(significance.stats_sections(df, tmp_path / "figures"))
    assert (tmp_path / "figures" / "cd_dice.png").stat().st_size > 1000
    png = (tmp_path / "figures" / "cd_dice.png").read_bytes()
    assert significance.png_img(png, "CD diagram dice") in html  # inlined: one-file report
    counts = significance.counts(df).set_index(["dataset", "method"])
    assert counts.loc[("d0", "a"), ["n_runs", "n_total", "n_failed", "n_empty_ref"]].tolist() == [
        4, 16, 3, 2]
