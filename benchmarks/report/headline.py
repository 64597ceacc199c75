"""The report's answer first: per dataset, the entry with the highest mean Dice (with its HD95),
how far the best entry of each method family stands from it, and the paired test behind each
claim; or, where the grid cannot support a ranking, a sentence saying why. Torch-free.

Families: zero-shot foundation models (card ``trainer: none``), fine-tuned SAM-family methods
(card ``stack: sam``, trained) and from-scratch baselines (everything else). A ranking needs
pretrained weights (a random-init number measures the pipeline, not the method) and enough paired
cases: with n paired cases the smallest two-sided Wilcoxon p-value is 2 / 2^n, so below
``MIN_PAIRED`` cases no difference can reach p < 0.05, whatever the scores.
"""

from __future__ import annotations

import html

import pandas as pd

from benchmarks.core import registry
from benchmarks.report import blocks
from benchmarks.scoring import stats

ZERO_SHOT, SAM_TUNED, BASELINE = ("zero-shot foundation models", "fine-tuned SAM-family",
                                  "from-scratch baselines")
FAMILIES = (ZERO_SHOT, SAM_TUNED, BASELINE)
ALPHA = 0.05
MIN_PAIRED = 6  # 2 / 2**5 = 0.0625 > ALPHA: five or fewer paired cases can never be significant
COLUMNS = ["dataset", "family", "entry", "Dice [95% CI]", "HD95 [95% CI]", "Δ Dice vs top",
           "paired test vs top"]


def family(method: str, training: str) -> str:
    """The family of a result row's method (an earlier phase ``id:phase`` counts as its method)."""
    if "zero_shot" in str(training):
        return ZERO_SHOT
    try:
        card = registry.read_card(str(method).split(":", 1)[0])
    except registry.UnknownIdError:  # a method of another checkout: not known to be SAM-family
        return BASELINE
    return SAM_TUNED if card.get("stack") == "sam" else BASELINE


def _delta(value: float) -> str:
    """Δ to the top entry; a gap that rounds to 0.000 keeps its sign and size visible."""
    return f"{value:+.3f}" if abs(value) >= 5e-4 or value == 0 else f"{value:+.1e}"


def _ci(row: pd.Series | None, digits: int = 3) -> str:
    if row is None or pd.isna(row["mean"]):
        return "–"
    return f"{row['mean']:.{digits}f} [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"


def _entries(part: pd.DataFrame) -> pd.DataFrame:
    """One row per entry of one dataset: Dice and HD95 summaries, family, random init."""
    summ = stats.summarize(part, [m for m in ("dice", "hd95") if m in part])
    dice = summ[summ["metric"] == "dice"].set_index("entry")
    labelled = stats.with_entry(part)
    info = labelled.groupby("entry").agg(
        method=("method", "first"),
        training=("training", "first") if "training" in part else ("method", lambda s: ""),
        weights=("weights", lambda s: ";".join(sorted(set(s.astype(str))))))
    out = dice.join(info)
    out["family"] = [family(m, t) for m, t in zip(out["method"], out["training"], strict=True)]
    out["random_init"] = out["weights"].str.contains("random_init")
    hd = summ[summ["metric"] == "hd95"].set_index("entry")
    out["hd95"] = [hd.loc[e] if e in hd.index else None for e in out.index]
    return out.sort_values(["mean", "n"], ascending=False)


def _test(tests: pd.DataFrame, top: str, other: str) -> tuple[str, bool]:
    """Text of the paired Wilcoxon (Holm) between ``top`` and ``other``; whether significant."""
    if tests.empty:
        return "no paired cases", False
    pair = tests[((tests["a"] == top) & (tests["b"] == other))
                 | ((tests["a"] == other) & (tests["b"] == top))]
    if pair.empty:
        return "no paired cases", False
    row = pair.iloc[0]
    sig = bool(row["significant"]) and row["better"] == top
    verdict = "top is better" if sig else "not distinguishable"
    return f"Wilcoxon p_holm = {row['p_holm']:.3g}, n = {int(row['n'])}: {verdict}", sig


def why_no_ranking(entries: pd.DataFrame) -> str:
    """The reason the entries of one dataset cannot be ranked, or '' when they can."""
    if len(entries) < 2:
        return "only one entry ran on this dataset: there is nothing to rank it against."
    reasons = []
    rand = entries[entries["random_init"]]
    if len(rand):
        names = ", ".join(sorted(rand.index))
        reasons.append(f"{names} ran with random init (no pretrained weights): these numbers "
                       "measure the pipeline, not the methods")
    n = int(entries["n"].min())
    if n < MIN_PAIRED:
        reasons.append(f"{n} test case(s) per entry: with n paired cases the smallest two-sided "
                       f"Wilcoxon p is 2/2^n = {2 / 2 ** n:.3g} ≥ {ALPHA}, so no difference "
                       "could be significant")
    return "; ".join(reasons)


def dataset_rows(part: pd.DataFrame) -> tuple[list[dict], str, str]:
    """Table rows (the top entry, then the best entry of each other family), the sentence of one
    dataset, and the reason it cannot be ranked ('' when it can)."""
    dataset = str(part["dataset"].iloc[0])
    entries = _entries(part)
    top_name, top = entries.index[0], entries.iloc[0]
    unit = ", ".join(sorted(part["distance_unit"].dropna().astype(str).unique())) \
        if "distance_unit" in part else ""
    tests = stats.pairwise_wilcoxon(part, "dice") if len(entries) > 1 else pd.DataFrame()
    reason = why_no_ranking(entries)
    rows = [{"dataset": dataset, "family": top["family"], "entry": top_name,
             "Dice [95% CI]": _ci(top), "HD95 [95% CI]": _ci(top["hd95"], 2),
             "Δ Dice vs top": "top", "paired test vs top": ""}]
    claims = []
    for fam in FAMILIES:
        members = entries[(entries["family"] == fam) & (entries.index != top_name)]
        if members.empty:
            continue
        name, row = members.index[0], members.iloc[0]
        text, sig = _test(tests, top_name, name)
        rows.append({"dataset": dataset, "family": fam, "entry": name,
                     "Dice [95% CI]": _ci(row), "HD95 [95% CI]": _ci(row["hd95"], 2),
                     "Δ Dice vs top": _delta(row["mean"] - top["mean"]),
                     "paired test vs top": text})
        claims.append(f"{'ahead of' if sig else 'not distinguishable from'} the best "
                      f"{fam} entry {name} ({_delta(row['mean'] - top['mean'])})")
    hd_text = f", HD95 {_ci(top['hd95'], 2)} {unit}".rstrip() if top["hd95"] is not None else ""
    lead = (f"<b>{html.escape(dataset)}</b> ({int(top['n'])} test cases): ")
    score = f"{html.escape(top_name)}, Dice {_ci(top)}{html.escape(hd_text)}"
    if reason:
        sentence = (f"{lead}no ranking: {html.escape(reason)}. Highest mean Dice (not a ranking): "
                    f"{score}.")
    else:
        said = "; ".join(claims) or "no other family ran on this dataset"
        sentence = (f"{lead}best is {score} ({top['family']}); {html.escape(said)} "
                    "(paired Wilcoxon, Holm-corrected per dataset, α = 0.05).")
    return rows, sentence, reason


def section(metrics: pd.DataFrame) -> str:
    """The headline section: one sentence per dataset and the table behind the sentences."""
    scored = metrics[metrics["dice"].notna()] if "dice" in metrics else metrics.iloc[:0]
    if scored.empty:
        return blocks.section("headline", "Headline", "<p>no scored cases yet: nothing to "
                              "report (see the failure table).</p>")
    rows, sentences = [], []
    for _, part in scored.groupby("dataset", sort=True):
        found, sentence, _ = dataset_rows(part)
        rows += found
        sentences.append(f"<li>{sentence}</li>")
    body = (f"<ul class='headline'>{''.join(sentences)}</ul>"
            + blocks.table(pd.DataFrame(rows, columns=COLUMNS), "none"))
    return blocks.section(
        "headline", "Headline: the best entry per dataset, and how far each family stands",
        body, "Mean [95% bootstrap CI] over test cases (folds pooled, seeds averaged); each "
        "family's best entry against the top one, paired two-sided Wilcoxon on the cases both "
        "scored, Holm-corrected over all pairs of the dataset.")
