"""Peak memory of one whole-volume prediction of a 512x512x200 CT on the slice-by-slice path.

Run: ``.venv/bin/python perf/volume_memory.py [--shape 512 512 200]``. Each path runs in a fresh
process (peak RSS is per process) on the same synthetic volume, with a pointwise "model" so that
only the harness's own buffers are measured (a real network adds its weights and activations):

- ``baseline``: the process with torch and the volume loaded (the float32 volume itself);
- ``slices``: a 2D method's path (uint8 windowed copy, one slice at a time, stacked bool mask).

The reference printed beside them is the bound of the issue: one float32 copy of the volume.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PATHS = ("baseline", "slices")


def _volume(shape: tuple[int, ...]):
    from benchmarks.data.base import Sample

    rng = np.random.default_rng(0)
    image = rng.standard_normal(shape, dtype=np.float32)  # no float64 temporary in the peak
    image *= 200.0
    return Sample("big", image, np.zeros(shape, bool), (0.8, 0.8, 2.5), "volume")


def _run_path(path: str, shape: tuple[int, ...]) -> dict[str, float]:
    import torch  # noqa: F401 - every path pays the same imports, so they cancel out

    from benchmarks import volumes

    sample = _volume(shape)
    dcfg = SimpleNamespace(window=[-160.0, 240.0])
    start = time.perf_counter()
    if path == "slices":
        u8 = volumes.to_uint8(sample.image, volumes.window_of(dcfg, None))
        masks = [volumes.slice_sample(u8, sample, z).image[..., 0] > 127
                 for z in range(shape[2])]
        volumes.stack(masks, shape)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"path": path, "peak_rss_mb": round(peak_mb), "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[512, 512, 200])
    parser.add_argument("--child", choices=PATHS)
    args = parser.parse_args()
    shape = tuple(args.shape)
    if args.child:
        print(json.dumps(_run_path(args.child, shape)))
        return
    volume_mb = float(np.prod(shape)) * 4 / 2**20
    rows = []
    for path in PATHS:
        out = subprocess.run([sys.executable, __file__, "--child", path, "--shape",
                              *map(str, shape)], check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = rows[0]["peak_rss_mb"]
    print(f"volume {shape}, float32 copy = {volume_mb:.0f} MB (reference bound: one copy)")
    print(f"{'path':<20}{'peak RSS MB':>12}{'over baseline MB':>18}{'copies':>8}{'seconds':>9}")
    for row in rows:
        extra = row["peak_rss_mb"] - base
        print(f"{row['path']:<20}{row['peak_rss_mb']:>12}{extra:>18}"
              f"{extra / volume_mb:>8.2f}{row['seconds']:>9}")


if __name__ == "__main__":
    main()
