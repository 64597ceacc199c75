"""Per-case segmentation metrics on binary masks (pure numpy/scipy; no monai in this path).

Conventions (``shared/docs/metric-conventions.md`` §2.12):

- Overlap: Dice, IoU, precision, recall from voxel counts.
- Distances (HD95, HD, ASSD) between *voxel surfaces*: a mask minus its cross-shaped erosion, the
  surface that MONAI and medpy use. HD95 is the maximum of the two directed 95th percentiles
  (``"max_directed"``, MONAI) or the 95th percentile of the pooled distances (``"pooled"``,
  medpy), both with linear interpolation. HD is the largest distance. ASSD is the mean of the
  pooled distances (Heimann et al. 2009; MONAI ``symmetric=True`` and medpy 0.5.2 ``assd``).
- NSD@tau (normalised *surface Dice*, Nikolov et al. 2021) on the area-weighted surface elements
  of DeepMind's ``surface-distance`` (2x2(x2) neighbour codes, their lookup tables).
- Units: distances and tau are in mm when spacing is known, else in pixels; the caller records the
  unit. All work happens inside the union's bounding box (exact: nearest surface points of either
  mask lie inside it), zero-padded so that an object touching the image border has surface there.
- Empty masks: both empty -> overlap metrics 1, NSD 1, distances 0; exactly one empty -> overlap
  metrics 0, NSD 0, distances = the image diagonal (or NaN with ``empty_one="nan"``).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.spatial import cKDTree

from benchmarks.core.arrays import bounding_box

HD95_DEFINITIONS = ("max_directed", "pooled")
EMPTY_ONE = ("diagonal", "nan")
OVERLAP = ("dice", "iou", "precision", "recall")
DISTANCES = ("hd95", "hd", "assd")
# About this many lattice offsets are probed before a KD-tree takes over (perf/metrics.py).
_N_OFFSETS = 256
# Above this many surface voxels (both masks) the two directions run on two threads: numpy's
# indexing and the KD-tree release the GIL, so a large 3D case takes ~0.6x the time
# (perf/metrics.py); below it the thread hand-off costs more than it saves.
_PARALLEL_MIN_VOXELS = 100_000


def empty_policy(empty_one: str) -> str:
    """The empty-mask policy as written into every metrics file."""
    return f"both_empty:overlap=1,nsd=1,dist=0;one_empty:overlap=0,nsd=0,dist={empty_one}"


def diagonal(shape: Sequence[int], spacing: Sequence[float] | None) -> float:
    """Length of the image diagonal in the distance unit (worst-case distance)."""
    return float(np.linalg.norm(np.asarray(shape, float) * _spacing(spacing, len(shape))))


def _spacing(spacing: Sequence[float] | None, ndim: int) -> np.ndarray:
    sp = np.ones(ndim) if spacing is None else np.asarray(spacing, float)
    if sp.shape != (ndim,) or not np.all(sp > 0):
        raise ValueError(f"spacing {spacing!r} must hold {ndim} positive values (one per axis)")
    return sp


def overlap_metrics(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Dice, IoU, precision and recall from voxel counts, under the empty policy."""
    n_p, n_r = int(np.count_nonzero(pred)), int(np.count_nonzero(ref))
    if n_p == 0 and n_r == 0:
        return dict.fromkeys(OVERLAP, 1.0)
    tp = int(np.count_nonzero(pred & ref))
    return {"dice": 2.0 * tp / (n_p + n_r), "iou": tp / (n_p + n_r - tp),
            "precision": tp / n_p if n_p else 0.0, "recall": tp / n_r if n_r else 0.0}


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Dice = 2|P∩R| / (|P|+|R|); 1.0 when both are empty."""
    return overlap_metrics(np.asarray(pred, bool), np.asarray(ref, bool))["dice"]


def iou(pred: np.ndarray, ref: np.ndarray) -> float:
    """IoU = |P∩R| / |P∪R|; 1.0 when both are empty."""
    return overlap_metrics(np.asarray(pred, bool), np.asarray(ref, bool))["iou"]


def union_box(pred: np.ndarray, ref: np.ndarray) -> tuple[slice, ...]:
    """The bounding box of ``pred | ref`` (both must hold at least one voxel)."""
    return bounding_box(pred | ref)


def _surface(mask: np.ndarray) -> np.ndarray:
    """``mask`` minus its cross-shaped erosion; ``mask`` must have an all-False border."""
    inner = mask.copy()
    for axis in range(mask.ndim):
        lo = [slice(None)] * mask.ndim
        hi = [slice(None)] * mask.ndim
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        inner[tuple(lo)] &= mask[tuple(hi)]
        inner[tuple(hi)] &= mask[tuple(lo)]
    return mask & ~inner


def voxel_surfaces(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Surface voxels (mask minus cross erosion) of both masks, in the padded union box."""
    box = union_box(pred, ref)
    return _surface(np.pad(pred[box], 1)), _surface(np.pad(ref[box], 1))


@functools.lru_cache(maxsize=32)
def _offsets(spacing: tuple[float, ...], count: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Integer offsets of a complete ball holding about ``count`` lattice points, nearest first.

    Returns the offsets, their physical lengths (same formula as scipy's EDT) and the radius.
    """
    sp = np.asarray(spacing)
    unit_ball = math.pi ** (sp.size / 2) / math.gamma(sp.size / 2 + 1)
    radius = max((count * float(np.prod(sp)) / unit_ball) ** (1 / sp.size), float(sp.max()))
    half = np.floor(radius / sp).astype(int)
    grid = np.stack(np.meshgrid(*[np.arange(-h, h + 1) for h in half], indexing="ij"), -1)
    vec = grid.reshape(-1, sp.size)
    length = np.sqrt(((vec * sp) ** 2).sum(1))
    order = np.argsort(length, kind="stable")
    vec, length = vec[order], length[order]
    keep = length <= radius
    return vec[keep], length[keep], radius


def nearest_distances(query: np.ndarray, target: np.ndarray, spacing: Sequence[float] | None,
                      max_distance: float = math.inf) -> np.ndarray:
    """Exact distance from each True voxel of ``query`` (C order) to the nearest one of ``target``.

    Probes lattice offsets nearest-first (most surface points of a fair prediction lie within a
    few voxels of the other surface), then queries a KD-tree (both cores) for the rest. Distances
    above ``max_distance`` may be returned as ``inf`` (enough for NSD).

    Raises:
        ValueError: when ``target`` has no True voxel or the shapes differ.
    """
    sp = _spacing(spacing, query.ndim)
    if query.shape != target.shape or not target.any():
        raise ValueError(f"nearest_distances: shapes {query.shape} / {target.shape} must match "
                         "and the target must hold a True voxel")
    vec, length, radius = _offsets(tuple(sp), _N_OFFSETS)
    vec, length = vec[length <= max_distance], length[length <= max_distance]
    pad = [(h, h) for h in np.abs(vec).max(0)]
    tgt, qry = np.pad(target, pad).ravel(), np.pad(query, pad)
    flat = np.flatnonzero(qry)
    dist = np.full(flat.size, np.inf)
    todo = np.arange(flat.size)
    steps = vec @ np.asarray(qry.strides) // qry.itemsize
    for step, size in zip(steps, length, strict=True):
        hit = tgt[flat + step]
        if hit.any():
            dist[todo[hit]] = size
            todo, flat = todo[~hit], flat[~hit]
            if not todo.size:
                return dist
    if max_distance >= radius:
        points = np.stack(np.unravel_index(flat, qry.shape), 1)
        targets = np.stack(np.unravel_index(np.flatnonzero(tgt), qry.shape), 1)
        dist[todo] = _kdtree_distances(points, targets, sp)
    return dist


def _kdtree_distances(points: np.ndarray, target: np.ndarray, sp: np.ndarray) -> np.ndarray:
    """Nearest-neighbour distances, recomputed from integer offsets with the EDT's formula."""
    tree = cKDTree(target * sp, leafsize=64, balanced_tree=False, compact_nodes=False)
    _, idx = tree.query(points * sp, k=1, workers=-1)
    return np.sqrt((((points - target[idx]) * sp) ** 2).sum(1))


@functools.lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    """Two worker threads, made on first use (no import-time side effects)."""
    return ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1))


def both_directions(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], a: np.ndarray,
                    b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(fn(a, b), fn(b, a))``, on two threads when the masks hold many True voxels."""
    if np.count_nonzero(a) + np.count_nonzero(b) < _PARALLEL_MIN_VOXELS:
        return fn(a, b), fn(b, a)
    other = _pool().submit(fn, b, a)
    return fn(a, b), other.result()


def directed_distances(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float] | None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each surface voxel of ``pred`` to ``ref``'s surface, and vice versa."""
    sp_, sr = voxel_surfaces(np.asarray(pred, bool), np.asarray(ref, bool))
    return both_directions(lambda q, t: nearest_distances(q, t, spacing), sp_, sr)


def distance_metrics(d_pr: np.ndarray, d_rp: np.ndarray, definition: str) -> dict[str, float]:
    """HD95 (under ``definition``), HD and ASSD from the two directed distance sets."""
    pooled = np.concatenate([d_pr, d_rp])
    if definition == "pooled":
        hd95 = float(np.percentile(pooled, 95))
    else:
        hd95 = float(max(np.percentile(d_pr, 95), np.percentile(d_rp, 95)))
    return {"hd95": hd95, "hd": float(pooled.max()), "assd": float(pooled.mean())}


def surface_distance_metrics(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float] | None,
                             definition: str = "max_directed", empty_one: str = "diagonal"
                             ) -> dict[str, float]:
    """HD95, HD and ASSD of two boolean masks under the empty policy."""
    p_any, r_any = bool(pred.any()), bool(ref.any())
    if p_any and r_any:
        return distance_metrics(*directed_distances(pred, ref, spacing), definition)
    worst = diagonal(pred.shape, spacing) if empty_one == "diagonal" else math.nan
    return dict.fromkeys(DISTANCES, 0.0 if p_any == r_any else worst)


def hd95(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float] | None = None,
         definition: str = "max_directed", empty_one: str = "diagonal") -> float:
    """95th-percentile Hausdorff distance under the stated definition and empty policy."""
    _check(pred, ref, definition, empty_one)
    pred, ref = np.asarray(pred, bool), np.asarray(ref, bool)
    return surface_distance_metrics(pred, ref, spacing, definition, empty_one)["hd95"]


def _check(pred: np.ndarray, ref: np.ndarray, definition: str, empty_one: str) -> None:
    if np.shape(pred) != np.shape(ref):
        raise ValueError(f"prediction shape {np.shape(pred)} differs from reference "
                         f"{np.shape(ref)}")
    if definition not in HD95_DEFINITIONS or empty_one not in EMPTY_ONE:
        raise ValueError(f"hd95 definition {definition!r} / empty_one {empty_one!r}: "
                         f"use one of {HD95_DEFINITIONS} / {EMPTY_ONE}")


@functools.lru_cache(maxsize=32)
def _surfel_areas(spacing: tuple[float, ...]) -> np.ndarray:
    """Area (3D) or length (2D) of the surface element of each neighbour code (DeepMind)."""
    from surface_distance import lookup_tables  # tables only; the package pins them

    if len(spacing) == 2:
        return lookup_tables.create_table_neighbour_code_to_contour_length(spacing)
    return lookup_tables.create_table_neighbour_code_to_surface_area(spacing)


def surfels(mask: np.ndarray, box: tuple[slice, ...], spacing: Sequence[float] | None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Surface-element mask and per-element areas of ``mask[box]`` on the corner grid.

    A corner holds an element when its 2x2(x2) neighbourhood is neither empty nor full; the
    grid is one larger than the box per axis (DeepMind's ``compute_surface_distances``).
    """
    if mask.ndim not in (2, 3):
        raise ValueError(f"NSD needs a 2D or 3D mask, got {mask.ndim}D")
    sp = _spacing(spacing, mask.ndim)
    m = np.pad(mask[box], 1).astype(np.uint8)
    bits = 2 ** mask.ndim
    weights = (2 ** (bits - 1 - np.arange(bits))).reshape((2,) * mask.ndim)
    code = np.zeros(tuple(s - 1 for s in m.shape), np.uint8)
    for corner in np.ndindex(*weights.shape):
        view = tuple(slice(c, c + n) for c, n in zip(corner, code.shape, strict=True))
        code += m[view] * np.uint8(weights[corner])
    border = (code != 0) & (code != 2**bits - 1)
    return border, _surfel_areas(tuple(sp))[code[border]]


def nsd(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float] | None,
        tolerance: float) -> float:
    """Normalised surface Dice at ``tolerance`` (distance unit), DeepMind's definition.

    Both empty -> 1, exactly one empty -> 0.
    """
    p_any, r_any = bool(pred.any()), bool(ref.any())
    if not (p_any and r_any):
        return float(p_any == r_any)
    box = union_box(pred, ref)
    (bp, ap), (br, ar) = surfels(pred, box, spacing), surfels(ref, box, spacing)
    d_pr, d_rp = both_directions(
        lambda q, t: nearest_distances(q, t, spacing, tolerance), bp, br)
    close_p, close_r = d_pr <= tolerance, d_rp <= tolerance
    return float((ap[close_p].sum() + ar[close_r].sum()) / (ap.sum() + ar.sum()))


def case_metrics(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float] | None = None,
                 hd95_definition: str = "max_directed", empty_one: str = "diagonal",
                 nsd_tolerance: float | None = 1.0) -> dict[str, float]:
    """All per-case metrics of one binary prediction against its reference.

    Args:
        pred: predicted mask (any dtype; non-zero = foreground).
        ref: reference mask of the same shape.
        spacing: voxel size per array axis (mm), or None for pixels.
        hd95_definition: ``"max_directed"`` (MONAI/DeepMind) or ``"pooled"`` (medpy).
        empty_one: distances when exactly one mask is empty: ``"diagonal"`` or ``"nan"``.
        nsd_tolerance: tau of NSD in the distance unit; None leaves NSD out.

    Raises:
        ValueError: when the masks differ in shape, or for an unknown definition or policy.
    """
    _check(pred, ref, hd95_definition, empty_one)
    pred, ref = np.asarray(pred, bool), np.asarray(ref, bool)
    out = overlap_metrics(pred, ref)
    out |= surface_distance_metrics(pred, ref, spacing, hd95_definition, empty_one)
    if nsd_tolerance is not None:
        out["nsd"] = nsd(pred, ref, spacing, nsd_tolerance)
    return out


def worst_metrics(shape: Sequence[int], spacing: Sequence[float] | None) -> dict[str, float]:
    """The values a missing or failed prediction scores (counted, never dropped)."""
    worst = diagonal(shape, spacing)
    return dict.fromkeys(OVERLAP, 0.0) | dict.fromkeys(DISTANCES, worst) | {"nsd": 0.0}
