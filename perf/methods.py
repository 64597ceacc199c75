"""Predict latency per image on the CPU: each method's wrapper against its upstream predictor.

Run: ``.venv/bin/python perf/methods.py [--repeats N] [--params]``. For every row of
``perf/method_rows/*.py`` the same model, weights (random init) and 300 x 400 image with one box
go through our method's ``predict`` (what the harness calls per case) and through the upstream
predictor; calls alternate, each side's median wall time is printed with the ratio (target: our
wrapper within 5 % of upstream, as the image encoder dominates) and the max abs difference of the
two probability maps. ``--params`` adds total and trainable parameter counts per method and
backbone, at the tiny size and at the real sizes (built on the meta device: no memory, no time);
a multi-phase method (UltraRefiner) gets one row per phase, trainable as that phase trains.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch  # noqa: E402

# methods of the --params table
PARAM_METHODS = ("sam_zeroshot", "medsam_zeroshot", "sma", "sam2_zeroshot", "esam2_bls",
                 "ultra_refiner")


def load_rows() -> list:
    """Every ``ROWS`` entry of the modules in ``perf/method_rows``."""
    folder = Path(__file__).parent / "method_rows"
    rows = []
    for path in sorted(folder.glob("[!_]*.py")):
        rows += importlib.import_module(f"perf.method_rows.{path.stem}").ROWS
    return rows


def time_row(row, repeats: int) -> dict:
    """Median seconds of both sides (alternating calls after one warm-up each) and max |diff|."""
    ours, upstream = row.setup()
    times: dict[str, list[float]] = {"ours": [], "upstream": []}
    with torch.inference_mode():
        first, reference = ours(), upstream()  # the warm-up calls
        diff = float((first - reference).abs().max()) if row.same_output else None
        for _ in range(repeats):
            for name, call in (("ours", ours), ("upstream", upstream)):
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    ours_s, up_s = statistics.median(times["ours"]), statistics.median(times["upstream"])
    return {"method": row.method, "upstream": row.upstream, "ours_ms": ours_s * 1e3,
            "upstream_ms": up_s * 1e3, "ratio": ours_s / up_s, "max_abs_diff": diff}


def _diff(value: float | None) -> str:
    return "n/a (reference is a part)" if value is None else f"{value:.2e}"


def param_counts(method_id: str, backbone: str, tiny: bool, phase: str | None = None
                 ) -> tuple[int, int]:
    """Total and trainable parameters as the harness trains them (zero-shot: 0 trainable);
    ``phase``: that phase's frozen prefixes (multi-phase methods)."""
    from benchmarks.core import registry
    from benchmarks.stages import train

    module = registry.import_method(method_id)
    extra = {"variant": "tiny", "image_size": 64} if tiny else {}
    cfg = train.for_phase(module, module.Config(backbone=backbone, **extra,
                                                **({"phase": phase} if phase else {})))
    with torch.device("meta"):
        model = module.build(cfg, None)
    counts = train.freeze(model, cfg.frozen)
    zero_shot = registry.read_card(method_id)["trainer"] == train.ZERO_SHOT
    return counts["params_total"], 0 if zero_shot else counts["params_trainable"]


def print_params() -> None:
    from benchmarks.core import registry

    print("\n| method | backbone | size | params total | params trainable (share) |")
    print("|---|---|---|---:|---:|")
    for method_id in PARAM_METHODS:
        backbones = registry.read_card(method_id)["backbones"]
        phases = registry.phases(method_id) or [None]
        # (backbone, tiny): a "tiny" backbone, or for methods without one the tiny variant
        sizes = [(b, b == "tiny") for b in backbones]
        if "tiny" not in backbones and phases != [None]:
            sizes.insert(0, (backbones[0], True))
        for (backbone, tiny), phase in ((s, p) for s in sizes for p in phases):
            total, trainable = param_counts(method_id, backbone, tiny, phase)
            size = "tiny @64" if tiny else "real @1024"
            label = f"{method_id} (phase {phase})" if phase else method_id
            print(f"| {label} | {backbone} | {size} | {total:,} | {trainable:,} "
                  f"({trainable / total:.1%}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--params", action="store_true", help="also print parameter counts")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n")
    print("| method | upstream | ours ms | upstream ms | ratio | max abs diff |")
    print("|---|---|---:|---:|---:|---:|")
    for row in load_rows():
        r = time_row(row, args.repeats)
        print(f"| {r['method']} | {r['upstream']} | {r['ours_ms']:.1f} | {r['upstream_ms']:.1f} "
              f"| {r['ratio']:.3f} | {_diff(r['max_abs_diff'])} |")
    if args.params:
        print_params()


if __name__ == "__main__":
    main()
