"""Cost of one interactive round: our click placement against the method's decode, side by side.

Run: ``.venv/bin/python perf/clicks.py [--repeats 3] [--depth 200]`` (2 CPU cores:
``OMP_NUM_THREADS=2``). A round of the interactive protocol (``benchmarks/stages/interactive.py``)
is our click (error mask, fully connected components, EDT of the largest, ties) plus the method's
decode on its cached image embedding plus bookkeeping (threshold, copy). Timed here:

- the click on a 512 x 512 image and on a 512 x 512 x ``depth`` volume, for a small error (a
  missed blob next to a fair prediction) and for the worst case, an organ-sized error (an empty
  prediction of a 150 x 200 x 120-voxel ellipsoid);
- the decode of SAM's prompt encoder + mask decoder (ViT-B layout, random weights: the cost does
  not depend on them) on a cached 256 x 64 x 64 embedding with a box, 5 clicks and a previous mask,
  upsampled to 512 x 512: the decoder LiteMedSAM shares with SAM (its TinyViT encoder runs once
  per image, outside the round). In 3D one slice is decoded per round (the clicked one).

The encoder is not timed: it runs once per image, never per click
(tests/methods/test_interactive.py counts its calls).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.data import clicks  # noqa: E402


def timed(func, repeats: int) -> float:
    """Median wall time of ``func()`` in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def ellipsoid(shape: tuple[int, ...], centre: tuple[float, ...], radii: tuple[float, ...]
              ) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii, strict=True)) <= 1


def cases(depth: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(prediction, reference) pairs: small and organ-sized errors, 2D and 3D."""
    shape3 = (512, 512, depth)
    organ = ellipsoid(shape3, (256, 230, depth / 2), (75, 100, min(60, depth / 3)))
    fair = ellipsoid(shape3, (258, 232, depth / 2), (74, 99, min(59, depth / 3)))
    fair &= ~ellipsoid(shape3, (300, 180, depth / 2), (12, 12, 8))  # a missed chunk
    z = depth // 2
    return {"2d small error": (fair[:, :, z], organ[:, :, z]),
            "2d organ-sized error": (np.zeros((512, 512), bool), organ[:, :, z]),
            "3d small error": (fair, organ),
            "3d organ-sized error": (np.zeros(shape3, bool), organ)}


def decoder_round(repeats: int) -> float:
    """Median ms of one SAM ViT-B-layout decode (box, 5 clicks, previous) to 512 x 512."""
    import torch

    from methods._sam1 import arch, infer

    torch.set_num_threads(2)
    sam = arch.build_sam(arch.layout("vit_b", "base"), 1024).eval()
    enc = infer.SamFeatures(torch.randn(1, 256, 64, 64), (1024, 1024), (512, 512))
    prompt = infer.Prompt(torch.tensor([100.0, 120.0, 380.0, 400.0]),
                          torch.tensor([[200.0, 210.0], [250, 300], [300, 200], [150, 150],
                                        [330, 330]]),
                          torch.tensor([1, 1, 0, 1, 0]), torch.rand(512, 512))

    def one() -> None:
        with torch.no_grad():
            prob = torch.sigmoid(infer.sam_decode(sam, enc, prompt.box, False, prompt))
            _ = (prob >= 0.5).numpy()

    one()  # warm-up
    return timed(one, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--depth", type=int, default=200)
    args = parser.parse_args()
    decode_ms = decoder_round(args.repeats)
    print(f"{'case':<24}{'click ms':>10}{'decode ms':>11}{'round ms':>10}{'click share':>13}")
    for name, (pred, ref) in cases(args.depth).items():
        click_ms = timed(lambda p=pred, r=ref: clicks.next_click(p, r), args.repeats)
        total = click_ms + decode_ms
        print(f"{name:<24}{click_ms:>10.1f}{decode_ms:>11.1f}{total:>10.1f}"
              f"{click_ms / total:>12.0%}")


if __name__ == "__main__":
    main()
