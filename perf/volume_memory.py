"""Peak memory of one whole-volume prediction of a 512x512x200 CT: slice-by-slice and 3D patches.

Run: ``.venv/bin/python perf/volume_memory.py [--shape 512 512 200]``. Each path runs in a fresh
process (peak RSS is per process) on the same synthetic volume, with a pointwise "model" so that
only the harness's own buffers are measured (a real network adds its weights and activations):

- ``baseline``: the process with torch and the volume loaded (the float32 volume itself);
- ``slices``: a 2D method's path (uint8 windowed copy, one slice at a time, stacked bool mask);
- ``patches``: a 3D method's path (:mod:`benchmarks.data.patches`): the volume normalised in place,
  MONAI sliding-window inference of the tiny ``unet3d`` (random init, patch 128x128x64 at the
  volume's spacing, Gaussian blending, overlap 0.25 to keep the CPU run near a minute: the
  buffers do not depend on the overlap, only the number of windows does), thresholded to a bool
  mask. MONAI's output
  and count maps (one float32 map each) are the sliding-window buffers; the network's
  activations for one window come on top;
- ``one_window``: the tiny U-Net on a single 128x128x64 window (its activation peak, the part of
  the ``patches`` row that does not grow with the volume).

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

PATHS = ("baseline", "slices", "one_window", "patches")
PATCH = [128, 128, 64]  # the tiny U-Net's window for the patches row (a typical 3d_fullres size)


def _volume(shape: tuple[int, ...]):
    from benchmarks.data.base import Sample

    rng = np.random.default_rng(0)
    image = rng.standard_normal(shape, dtype=np.float32)  # no float64 temporary in the peak
    image *= 200.0
    return Sample("big", image, np.zeros(shape, bool), (0.8, 0.8, 2.5), "volume")


def _run_path(path: str, shape: tuple[int, ...]) -> dict[str, float]:
    import monai.inferers  # noqa: F401 - every path pays the same imports, so they cancel out
    import torch

    from benchmarks.data import patches, volumes
    from methods.unet3d import method as unet3d

    mcfg = unet3d.Config(variant="tiny", patch_size=PATCH, target_spacing=[0.8, 0.8, 2.5],
                         sw_overlap=0.25)
    torch.manual_seed(0)
    model = unet3d.build(mcfg, None).eval()  # every path builds it (87k parameters)
    sample = _volume(shape)
    dcfg = SimpleNamespace(window=[-160.0, 240.0])
    start = time.perf_counter()
    if path == "slices":
        u8 = volumes.to_uint8(sample.image, volumes.window_of(dcfg, None))
        masks = [volumes.slice_sample(u8, sample, z).image[..., 0] > 127
                 for z in range(shape[2])]
        volumes.stack(masks, shape)
    elif path == "one_window":
        with torch.no_grad():
            unet3d.predict(model, {"image": torch.zeros(1, 1, *PATCH)}, mcfg)
    elif path == "patches":
        image = patches.normalise(sample.image, volumes.window_of(dcfg, mcfg))
        prob = patches.predict_volume(unet3d, model, mcfg, image, sample.spacing_mm,
                                      torch.device("cpu"))
        _ = prob >= 0.5
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
