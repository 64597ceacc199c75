"""3D rows prompted on every slice from the reference (``*_allslices``) are labelled an upper
bound wherever results are shown or ranked (issue 21 item 10)."""

from __future__ import annotations

import pandas as pd

from benchmarks.core.registry import REFERENCE_INFORMED_TAG
from benchmarks.scoring import stats


def _metrics() -> pd.DataFrame:
    rows = []
    for method, prompt, dice in (("sam_zeroshot", "box_allslices", 0.9),
                                 ("resnet_seg", "none", 0.6), ("medsam_zeroshot", "box", 0.8)):
        for case in range(4):
            rows.append({"dataset": "ct", "method": method, "backbone": "b", "prompt": prompt,
                         "fold": 0, "seed": 0, "case_id": f"c{case}", "dice": dice + case / 100})
    return pd.DataFrame(rows)


def test_entry_labels_tag_reference_informed_rows_only() -> None:
    labels = stats.entry_label(_metrics()).unique().tolist()
    assert labels == [f"sam_zeroshot/b/box_allslices {REFERENCE_INFORMED_TAG}", "resnet_seg/b",
                      "medsam_zeroshot/b/box"]


def test_tables_and_ranks_carry_the_tag() -> None:
    from benchmarks.stages import report

    pivot = report.ci_pivot(_metrics(), "dice")
    tagged = [e for e in pivot["method/backbone"] if REFERENCE_INFORMED_TAG in e]
    assert tagged == [f"sam_zeroshot/b/box_allslices {REFERENCE_INFORMED_TAG}"]
    ranks = stats.rank_stability(_metrics(), "dice", n_boot=10, seed=0)
    best = ranks.sort_values("rank").iloc[0]["entry"]
    assert best.endswith(REFERENCE_INFORMED_TAG)  # ranked first, but never without its label


def test_summary_rows_say_reference_informed() -> None:
    from benchmarks.stages import aggregate

    metrics = _metrics().assign(status="ok", empty_ref=False, empty_pred=False, weights="w",
                                distance_unit="mm", iou=0.5, hd95=1.0, nsd=0.5, subset="volume")
    summary = aggregate.summarise(metrics)
    flags = dict(zip(summary["method"], summary["reference_informed"], strict=True))
    assert flags == {"sam_zeroshot": True, "resnet_seg": False, "medsam_zeroshot": False}
