"""Time and peak memory of benchmarks/scoring/metrics.py vs MONAI vs medpy, printed as one table.

Run: ``.venv/bin/python perf/metrics.py``. Every call runs in a forked child that first makes a
small warm-up call (lazy imports, per-spacing tables, thread pools), then the timed one. The parent
never runs torch itself: a child forked after torch's OpenMP pool has started can deadlock. Time
is wall time (best of ``--repeats``), memory is the child's extra peak RSS over the timed call
(VmHWM after resetting it through /proc/self/clear_refs). Two metric sets per library:

- ``hd95``: HD95 alone (ours: max of directed percentiles; MONAI the same; medpy pooled).
- ``all``: everything the library offers of our set. Ours: Dice, IoU, precision, recall, HD95,
  HD, ASSD, NSD@1. MONAI: Dice, IoU, HD95, HD, ASSD, surface Dice (use_subvoxels). medpy: dc, jc,
  precision, recall, hd95, hd, assd (no NSD).

Inputs are correlated random blobs (thresholded Gaussian-filtered noise) with a smoothly
perturbed prediction: "compact" keeps them in the central 30 % box, "spread" fills the image.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.scoring import metrics  # noqa: E402

CASES = {
    "2D 512² compact": ((512, 512), (0.7, 0.5), False),
    "2D 512² spread": ((512, 512), (0.7, 0.5), True),
    "3D 128×256² compact": ((128, 256, 256), (2.5, 0.8, 0.8), False),
    "3D 128×256² spread": ((128, 256, 256), (2.5, 0.8, 0.8), True),
}


def blobs(shape: tuple[int, ...], spread: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A (pred, ref) pair of correlated blobs; see the module docstring."""
    rng = np.random.default_rng(seed)
    fields = [ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), s)
              for s in (4.0, 8.0)]
    base, pert = (f / f.std() for f in fields)
    ref, pred = base > 1.0, base + 0.35 * pert > 1.0
    if not spread:
        keep = np.zeros(shape, bool)
        keep[tuple(slice(int(s * 0.35), int(s * 0.65)) for s in shape)] = True
        ref, pred = ref & keep, pred & keep
    return pred, ref


def _ours(kind: str) -> Callable:
    if kind == "hd95":
        return lambda p, r, s: metrics.hd95(p, r, s)
    return lambda p, r, s: metrics.case_metrics(p, r, s, nsd_tolerance=1.0)


def _monai(kind: str) -> Callable:
    import torch
    from monai import metrics as mm

    def run(p, r, s):
        tp, tr = (torch.from_numpy(x[None, None]) for x in (p, r))
        out = {"hd95": mm.compute_hausdorff_distance(tp, tr, True, percentile=95, spacing=s)}
        if kind == "all":
            tpf, trf = tp.float(), tr.float()
            out |= {"dice": mm.compute_dice(tpf, trf, True), "iou": mm.compute_iou(tpf, trf, True),
                    "hd": mm.compute_hausdorff_distance(tp, tr, True, spacing=s),
                    "assd": mm.compute_average_surface_distance(tp, tr, True, True, spacing=s),
                    "nsd": mm.compute_surface_dice(tpf, trf, [1.0], include_background=True,
                                                   spacing=s, use_subvoxels=True)}
        return out
    return run


def _medpy(kind: str) -> Callable:
    from medpy.metric import binary as mb

    def run(p, r, s):
        out = {"hd95": mb.hd95(p, r, s)}
        if kind == "all":
            out |= {"dc": mb.dc(p, r), "jc": mb.jc(p, r), "precision": mb.precision(p, r),
                    "recall": mb.recall(p, r), "hd": mb.hd(p, r, s), "assd": mb.assd(p, r, s)}
        return out
    return run


def _child(fn: Callable, args: tuple, warm: tuple, conn) -> None:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)  # MONAI may use every core, as we do
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(*warm)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    base = _status_kb("VmRSS")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(*args)
    conn.send((time.perf_counter() - start, (_status_kb("VmHWM") - base) / 1024))


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} missing from /proc/self/status")


def measure(fn: Callable, args: tuple, warm: tuple, repeats: int) -> tuple[float, float]:
    """Best wall time (s) and largest extra peak RSS (MB) over ``repeats`` forked runs."""
    ctx = mp.get_context("fork")
    results = []
    for _ in range(repeats):
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(fn, args, warm, send))
        proc.start()
        results.append(recv.recv())
        proc.join()
    return min(t for t, _ in results), max(m for _, m in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per 2D call (3D: 1)")
    args = parser.parse_args()
    libs = {"ours": _ours, "monai": _monai, "medpy": _medpy}
    calls = {(lib, kind): make(kind) for lib, make in libs.items() for kind in ("hd95", "all")}
    print(f"| case | set | ours | MONAI | medpy | MONAI/ours | medpy/ours |\n|{'---|' * 7}")
    for name, (shape, spacing, spread) in CASES.items():
        pred, ref = blobs(shape, spread)
        warm = (*blobs(tuple(24 for _ in shape), True), spacing)
        repeats = args.repeats if len(shape) == 2 else 1
        for kind in ("hd95", "all"):
            got = {lib: measure(calls[lib, kind], (pred, ref, spacing), warm, repeats)
                   for lib in libs}
            cells = [f"{t * 1e3:.0f} ms / +{m:.0f} MB" for t, m in got.values()]
            ratios = [got[lib][0] / got["ours"][0] for lib in ("monai", "medpy")]
            print(f"| {name} | {kind} | {' | '.join(cells)} | {ratios[0]:.1f}× | "
                  f"{ratios[1]:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
