"""UltraRefiner's cost: predict latency per image, coarse (Phase 1) beside refined (Phase 3), and
the trainable share of each phase, printed as one table.

Run: ``.venv/bin/python perf/ultra_refiner.py [--repeats 5] [--size 256]``. Every row is timed in
the same run on the same synthetic ``--size`` x ``--size`` image, ``predict`` as the harness calls
it (original-size image in, probabilities out), after one warm-up call, median of ``--repeats``,
at the ``tiny`` CPU variant (image_size 64) and random init. The coarse row is the reference the
refined rows are read against (same TransUNet; the refined rows add SAM). Written as a row function
(``ROWS``) so that it can join perf/methods.py's per-method row registry.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _median_seconds(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up: first-call allocations are not the steady state
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ultra_refiner(size: int, repeats: int) -> list[dict]:
    """UltraRefiner tiny (image_size 64): coarse (Phase 1) and refined (Phase 3) latency per
    image, and the trainable share of each phase (frozen prefixes of ``phase_config``)."""
    from benchmarks.train import freeze
    from methods.ultra_refiner import method

    base = method.Config(variant="tiny", image_size=64)
    batch = {"image": torch.rand(1, 3, size, size)}
    rows = []
    for phase in method.PHASES:
        cfg = method.phase_config(dataclasses.replace(base, phase=phase))
        torch.manual_seed(0)
        model = method.build(cfg, None)
        counts = freeze(model, cfg.frozen)
        model.eval()
        with torch.no_grad():
            seconds = _median_seconds(lambda m=model, c=cfg: method.predict(m, batch, c), repeats)
        rows.append({"method": "ultra_refiner", "variant": "tiny", "phase": phase,
                     "output": "coarse" if phase == "coarse" else "refined",
                     "ms_per_image": round(1000 * seconds, 1),
                     "params_total": counts["params_total"],
                     "params_trainable": counts["params_trainable"],
                     "trainable_share": round(counts["params_trainable"]
                                              / counts["params_total"], 4)})
    return rows


ROWS: dict[str, Callable[[int, int], list[dict]]] = {"ultra_refiner": ultra_refiner}


def main() -> None:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=256, help="side of the synthetic image")
    parser.add_argument("--methods", nargs="*", default=sorted(ROWS))
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    rows = [row for name in args.methods for row in ROWS[name](args.size, args.repeats)]
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
