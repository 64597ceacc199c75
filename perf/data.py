"""Loader throughput on the real samples in ../shared/data: list + load every case, per dataset.

Run from the repository root: ``python perf/data.py [--repeats 3]``. Prints one row per 2D
dataset (median of the repeats, cold file cache not forced) and checks the issue's budget: the 61
BUS-BRA pairs load in <= 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.data.loaders import bus_uclm, busbra, busi, refuge  # noqa: E402

SHARED = (Path(__file__).resolve().parents[1] / "../shared/data").resolve()
DATASETS = {
    "busbra": (busbra, "busbra/BUSBRA"),
    "busi": (busi, "busi/Dataset_BUSI_with_GT"),
    "bus_uclm": (bus_uclm, "bus-uclm/BUS-UCLM"),
    "refuge": (refuge, "refuge-fundus-midss"),
}
BUSBRA_BUDGET_S = 5.0


def time_loader(loader, root: Path) -> tuple[int, float, int]:
    """(cases, seconds to list and load them all, total pixels)."""
    cfg = loader.Config(root=str(root))
    start = time.perf_counter()
    samples = [loader.load_case(ref, cfg) for ref in loader.list_cases(cfg)]
    seconds = time.perf_counter() - start
    return len(samples), seconds, sum(s.mask.size for s in samples)


def main() -> int:
    """Print the throughput table; exit 1 if BUS-BRA misses its budget."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"{SHARED} not found: nothing to measure")
        return 0
    print(f"{'dataset':<10} {'images':>6} {'seconds':>8} {'images/s':>9} {'Mpixel/s':>9}")
    busbra_s = 0.0
    for name, (loader, sub) in DATASETS.items():
        runs = [time_loader(loader, SHARED / sub) for _ in range(args.repeats)]
        n, pixels = runs[0][0], runs[0][2]
        seconds = statistics.median(r[1] for r in runs)
        busbra_s = seconds if name == "busbra" else busbra_s
        mpix = pixels / seconds / 1e6
        print(f"{name:<10} {n:>6} {seconds:>8.3f} {n / seconds:>9.1f} {mpix:>9.1f}")
    verdict = "ok" if busbra_s <= BUSBRA_BUDGET_S else "TOO SLOW"
    print(f"BUS-BRA 61 pairs: {busbra_s:.3f} s (budget {BUSBRA_BUDGET_S:.0f} s): {verdict}")
    return 0 if busbra_s <= BUSBRA_BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
