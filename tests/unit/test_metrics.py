"""Known-answer tests of benchmarks/scoring/metrics.py on tiny masks (values worked out by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.scoring import metrics


def _mask(shape: tuple[int, ...], *boxes: tuple[slice, ...]) -> np.ndarray:
    out = np.zeros(shape, bool)
    for box in boxes:
        out[box] = True
    return out


S = slice
# (pred, ref, expected subset of case_metrics with spacing None and tau 1)
OVERLAP_CASES = [
    # 2x2 square vs its left column: TP 2, |P| 4, |R| 2 -> Dice 4/6, IoU 2/4
    (_mask((6, 6), (S(1, 3), S(1, 3))), _mask((6, 6), (S(1, 3), S(1, 2))),
     {"dice": 2 / 3, "iou": 0.5, "precision": 0.5, "recall": 1.0}),
    # 4 voxels predicted, 1 correct of 1 reference -> Dice 2/5 = 0.4
    (_mask((5, 5), (S(0, 2), S(0, 2))), _mask((5, 5), (S(0, 1), S(0, 1))),
     {"dice": 0.4, "iou": 0.25, "precision": 0.25, "recall": 1.0}),
    (_mask((4, 4, 4), (S(0, 2), S(0, 2), S(0, 2))), _mask((4, 4, 4), (S(0, 2), S(0, 2), S(0, 2))),
     {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0, "hd95": 0.0, "hd": 0.0,
      "assd": 0.0, "nsd": 1.0}),
]


@pytest.mark.parametrize("pred, ref, expected", OVERLAP_CASES,
                         ids=["square_vs_column", "four_vs_one", "identical_cube"])
def test_overlap_metrics_match_hand_counts(pred, ref, expected):
    got = metrics.case_metrics(pred, ref)
    assert {k: got[k] for k in expected} == pytest.approx(expected)


def test_single_points_give_their_euclidean_distance():
    pred = _mask((10, 10), (S(2, 3), S(2, 3)))
    ref = _mask((10, 10), (S(5, 6), S(6, 7)))  # offset (3, 4) -> distance 5
    got = metrics.case_metrics(pred, ref, spacing=None)
    assert (got["hd95"], got["hd"], got["assd"], got["nsd"]) == (5.0, 5.0, 5.0, 0.0)
    scaled = metrics.case_metrics(pred, ref, spacing=(2.0, 0.5))  # (6, 2) -> sqrt(40)
    assert scaled["hd"] == pytest.approx(math.sqrt(40.0))


def test_shifted_square_distances_and_pooled_percentile():
    # 3x3 square vs the same square shifted by one column: each surface has 8 voxels.
    pred = _mask((9, 9), (S(3, 6), S(3, 6)))
    ref = _mask((9, 9), (S(3, 6), S(4, 7)))
    d_pr, d_rp = metrics.directed_distances(pred, ref, None)
    # 4 shared ring voxels; the other 4 are one voxel off (the centre is not surface)
    assert sorted(d_pr) == [0.0] * 4 + [1.0] * 4
    assert sorted(d_rp) == [0.0] * 4 + [1.0] * 4
    got = metrics.case_metrics(pred, ref)
    assert (got["hd"], got["hd95"], got["assd"]) == (1.0, 1.0, 0.5)


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.5, 0.5), (3.0, 3.0)],
                         ids=["unit", "half", "triple"])
def test_isotropic_spacing_scales_distances_linearly(spacing):
    pred = _mask((20, 20), (S(3, 10), S(4, 12)))
    ref = _mask((20, 20), (S(5, 13), S(2, 9)))
    base = metrics.case_metrics(pred, ref, None, nsd_tolerance=2.0)
    got = metrics.case_metrics(pred, ref, spacing, nsd_tolerance=2.0 * spacing[0])
    for key in ("hd95", "hd", "assd"):
        assert got[key] == pytest.approx(base[key] * spacing[0])
    assert got["nsd"] == pytest.approx(base["nsd"])
    assert got["dice"] == base["dice"]


@pytest.mark.parametrize("definition", metrics.HD95_DEFINITIONS)
def test_distance_metrics_are_symmetric(definition):
    rng = np.random.default_rng(3)
    pred, ref = rng.random((12, 14, 10)) > 0.7, rng.random((12, 14, 10)) > 0.6
    a = metrics.case_metrics(pred, ref, (1.5, 0.7, 1.1), definition)
    b = metrics.case_metrics(ref, pred, (1.5, 0.7, 1.1), definition)
    for key in ("dice", "iou", "hd95", "hd", "assd", "nsd"):
        assert a[key] == pytest.approx(b[key], abs=1e-12)
    assert (a["precision"], a["recall"]) == pytest.approx((b["recall"], b["precision"]))


def test_object_on_the_image_border_has_surface_there():
    pred = _mask((6, 6), (S(0, 6), S(0, 2)))  # fills two full columns
    ref = _mask((6, 6), (S(0, 6), S(0, 3)))
    assert metrics.case_metrics(pred, ref)["hd"] == 1.0


def test_max_directed_exceeds_pooled_when_directions_are_unbalanced():
    ref = _mask((40, 40), (S(5, 35), S(5, 35)))
    pred = ref.copy()
    pred[0:4, 0:4] = True  # a far blob only in pred: large pred->ref distances
    d_pr, d_rp = metrics.directed_distances(pred, ref, None)
    maxd = metrics.case_metrics(pred, ref, hd95_definition="max_directed")["hd95"]
    pooled = metrics.case_metrics(pred, ref, hd95_definition="pooled")["hd95"]
    assert maxd == max(np.percentile(d_pr, 95), np.percentile(d_rp, 95))
    assert pooled == np.percentile(np.concatenate([d_pr, d_rp]), 95)
    assert maxd > pooled


EMPTY = np.zeros((8, 6), bool)
FULL = _mask((8, 6), (S(2, 4), S(2, 4)))


@pytest.mark.parametrize("pred, ref, empty_one, expected", [
    (EMPTY, EMPTY, "diagonal", {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0,
                                "hd95": 0.0, "hd": 0.0, "assd": 0.0, "nsd": 1.0}),
    (FULL, EMPTY, "diagonal", {"dice": 0.0, "iou": 0.0, "precision": 0.0, "recall": 0.0,
                               "hd95": 10.0, "hd": 10.0, "assd": 10.0, "nsd": 0.0}),
    (EMPTY, FULL, "diagonal", {"dice": 0.0, "precision": 0.0, "recall": 0.0, "hd95": 10.0,
                               "nsd": 0.0}),
], ids=["both_empty", "ref_empty", "pred_empty"])
def test_empty_policy_values(pred, ref, empty_one, expected):
    got = metrics.case_metrics(pred, ref, None, "max_directed", empty_one)
    assert {k: got[k] for k in expected} == expected


def test_empty_policy_nan_leaves_distances_undefined_and_diagonal_uses_spacing():
    got = metrics.case_metrics(FULL, EMPTY, None, "max_directed", "nan")
    assert all(math.isnan(got[k]) for k in metrics.DISTANCES) and got["dice"] == 0.0
    assert metrics.case_metrics(FULL, EMPTY, (0.5, 2.0))["hd95"] == pytest.approx(
        math.hypot(4.0, 12.0))
    assert "one_empty:overlap=0,nsd=0,dist=nan" in metrics.empty_policy("nan")


def test_worst_metrics_are_the_worst_values():
    worst = metrics.worst_metrics((8, 6), None)
    assert worst == {"dice": 0.0, "iou": 0.0, "precision": 0.0, "recall": 0.0,
                     "hd95": 10.0, "hd": 10.0, "assd": 10.0, "nsd": 0.0}


@pytest.mark.parametrize("kwargs, match", [
    ({"hd95_definition": "mean"}, "hd95 definition"),
    ({"empty_one": "zero"}, "empty_one"),
    ({"spacing": (1.0,)}, "spacing"),
], ids=["bad_definition", "bad_empty_policy", "spacing_of_wrong_length"])
def test_bad_arguments_are_rejected_with_the_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        metrics.case_metrics(FULL, np.roll(FULL, 1, 0), **kwargs)


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="differs from reference"):
        metrics.case_metrics(FULL, FULL[:4])


def test_far_points_fall_back_to_the_kdtree_exactly():
    pred = _mask((3, 300), (S(1, 2), S(0, 1)))
    ref = _mask((3, 300), (S(1, 2), S(299, 300)))  # 299 px apart: beyond the probed offsets
    assert metrics.case_metrics(pred, ref, (1.0, 0.5))["hd"] == 149.5


def test_two_threads_give_the_serial_distances_exactly(monkeypatch) -> None:
    rng = np.random.default_rng(7)
    pred, ref = rng.random((2, 30, 40, 50)) > 0.7
    spacing = (2.5, 0.8, 0.7)
    monkeypatch.setattr(metrics, "_PARALLEL_MIN_VOXELS", 10**12)  # serial
    serial = metrics.directed_distances(pred, ref, spacing), metrics.nsd(pred, ref, spacing, 1.0)
    monkeypatch.setattr(metrics, "_PARALLEL_MIN_VOXELS", 0)  # always on two threads
    threaded = metrics.directed_distances(pred, ref, spacing), metrics.nsd(pred, ref, spacing, 1.0)
    for a, b in zip(serial[0], threaded[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert serial[1] == threaded[1]
