"""benchmarks/scoring/metrics.py against MONAI, medpy and DeepMind's surface-distance on random
shapes.

Equal to 1e-6 (relative, MONAI works in float32) under the same definition; where a library
defines a metric differently, the difference is asserted exactly:

- medpy ``hd95`` pools both directions (our ``definition="pooled"``); MONAI takes the max of the
  directed percentiles (our default).
- DeepMind's ``compute_robust_hausdorff`` uses surface elements (corner grid, area weights,
  nearest-rank percentile), not surface voxels; it is reproduced from our ``surfels``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from benchmarks.scoring import metrics

monai_metrics = pytest.importorskip("monai.metrics", reason="monai is a test-only dependency")
medpy_binary = pytest.importorskip("medpy.metric.binary", reason="medpy is test-only")
surface_distance = pytest.importorskip("surface_distance")
torch = pytest.importorskip("torch")

N_SHAPES = 60  # half 2D, half 3D
REL = 1e-6


def _shape_pair(seed: int) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], float]:
    """Correlated random blobs; the prediction is a smooth perturbation of the reference."""
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(24, 64, 2)) if seed % 2 == 0 else tuple(rng.integers(12, 28, 3))
    field = ndi.gaussian_filter(rng.standard_normal(shape), 2.0)
    noise = ndi.gaussian_filter(rng.standard_normal(shape), 3.0)
    field, noise = field / field.std(), noise / noise.std()
    ref, pred = field > 0.8, field + rng.uniform(0.1, 0.8) * noise > 0.8
    if not ref.any() or not pred.any():
        ref.flat[0] = pred.flat[-1] = True
    spacing = tuple(float(s) for s in rng.uniform(0.3, 3.0, len(shape)))
    return pred, ref, spacing, float(rng.uniform(0.5, 3.0))


CASES = [_shape_pair(seed) for seed in range(N_SHAPES)]
IDS = [f"{p.ndim}d_{'x'.join(map(str, p.shape))}_seed{i}" for i, (p, *_) in enumerate(CASES)]


def _t(mask: np.ndarray):
    return torch.from_numpy(mask[None, None].astype(np.float32))


def _approx(value: float):
    return pytest.approx(value, rel=REL, abs=1e-9)


@pytest.mark.parametrize("pred, ref, spacing, tau", CASES, ids=IDS)
def test_equal_to_monai(pred, ref, spacing, tau):
    ours = metrics.case_metrics(pred, ref, spacing, "max_directed", nsd_tolerance=tau)
    p, r = _t(pred), _t(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd95 = monai_metrics.compute_hausdorff_distance(p, r, True, percentile=95, spacing=spacing)
        hd = monai_metrics.compute_hausdorff_distance(p, r, True, spacing=spacing)
        assd = monai_metrics.compute_average_surface_distance(p, r, True, True, spacing=spacing)
        nsd = monai_metrics.compute_surface_dice(p, r, [tau], include_background=True,
                                                 spacing=spacing, use_subvoxels=True)
    assert ours["hd95"] == _approx(float(hd95))
    assert ours["hd"] == _approx(float(hd))
    assert ours["assd"] == _approx(float(assd))
    assert ours["nsd"] == _approx(float(nsd))
    assert ours["dice"] == _approx(float(monai_metrics.compute_dice(p, r, True)))
    assert ours["iou"] == _approx(float(monai_metrics.compute_iou(p, r, True)))


@pytest.mark.parametrize("pred, ref, spacing, tau", CASES, ids=IDS)
def test_equal_to_medpy(pred, ref, spacing, tau):
    ours = metrics.case_metrics(pred, ref, spacing, "pooled", nsd_tolerance=None)
    assert ours["hd95"] == _approx(medpy_binary.hd95(pred, ref, voxelspacing=spacing))
    assert ours["hd"] == _approx(medpy_binary.hd(pred, ref, voxelspacing=spacing))
    assert ours["dice"] == _approx(medpy_binary.dc(pred, ref))
    assert ours["iou"] == _approx(medpy_binary.jc(pred, ref))
    assert ours["precision"] == _approx(medpy_binary.precision(pred, ref))
    assert ours["recall"] == _approx(medpy_binary.recall(pred, ref))
    # medpy 0.5.2 pools both directions before the mean, as we and MONAI do
    assert ours["assd"] == _approx(medpy_binary.assd(pred, ref, voxelspacing=spacing))


def _deepmind(pred, ref, spacing):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy.ndimage.filters in 0.1
        return surface_distance.compute_surface_distances(ref, pred, spacing)


def _area_weighted_nearest_rank(distances: np.ndarray, areas: np.ndarray, q: float) -> float:
    order = np.lexsort((areas, distances))  # DeepMind sorts by (distance, area)
    cum = np.cumsum(areas[order]) / areas.sum()
    idx = min(int(np.searchsorted(cum, q / 100.0)), len(order) - 1)
    return float(distances[order][idx])


@pytest.mark.parametrize("pred, ref, spacing, tau", CASES, ids=IDS)
def test_equal_to_deepmind_surface_distance(pred, ref, spacing, tau):
    dm = _deepmind(pred, ref, spacing)
    ours = metrics.case_metrics(pred, ref, spacing, nsd_tolerance=tau)
    assert ours["nsd"] == _approx(surface_distance.compute_surface_dice_at_tolerance(dm, tau))
    box = metrics.union_box(pred, ref)
    (bp, ap), (br, ar) = metrics.surfels(pred, box, spacing), metrics.surfels(ref, box, spacing)
    d_pr = metrics.nearest_distances(bp, br, spacing)
    d_rp = metrics.nearest_distances(br, bp, spacing)
    robust = max(_area_weighted_nearest_rank(d_rp, ar, 95),
                 _area_weighted_nearest_rank(d_pr, ap, 95))
    assert robust == _approx(surface_distance.compute_robust_hausdorff(dm, 95))
