"""Our batch-1 latency (benchmarks/stages/throughput.py) vs a bare ``torch.utils.benchmark.Timer``
loop over the same model and the same call, in one run, printed side by side.

Run: ``.venv/bin/python perf/throughput.py`` (CPU here; on a GPU host add ``--device cuda``:
Timer synchronises CUDA itself, ours uses CUDA events). Both time the identical closure
``predict(model, batch, cfg)`` under ``no_grad`` that the throughput stage times. The two are
interleaved over ``--rounds`` rounds (ours, Timer, ours, Timer, ...) so that drift in machine load
hits both alike; each side's number is the median over all its per-call times (Timer measures
one call per ``timeit(1)``). Timer runs with
the process's thread count (its default is 1 thread, which would compare different things).
The claim checked: the two medians agree within 5 %.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.core import offline  # noqa: E402

offline.apply()

import torch  # noqa: E402
import torch.utils.benchmark as tb  # noqa: E402

from benchmarks.core import timing  # noqa: E402
from benchmarks.runs import config  # noqa: E402
from benchmarks.stages import throughput  # noqa: E402

MODELS = {  # the demo's tiny CPU variants (config.yaml)
    "resnet_seg/resnet18": ["method=resnet_seg", "method.backbone=resnet18",
                            "method.variant=tiny"],
    "yolo_seg/n": ["method=yolo_seg", "method.backbone=n", "method.variant=tiny"],
}


def compare(name: str, overrides: list[str], args: argparse.Namespace) -> dict:
    """Median per-call ms of ours and of Timer, interleaved over the rounds."""
    cfg = config.compose_throughput([*overrides, f"size={args.size}", f"device={args.device}"])
    session = throughput.Session(cfg)
    call = session.call(session.module.predict, session.batch(1))
    timing.time_calls(call, args.warmup, 0, session.device)  # warm both up once, together
    timer = tb.Timer(stmt="call()", globals={"call": call}, num_threads=torch.get_num_threads())
    ours, bare = [], []
    for _ in range(args.rounds):
        ours += timing.time_calls(call, 0, args.iters, session.device)
        # one call per Timer measurement: per-call times, as ours (a block would give means)
        bare += [timer.timeit(1).median * 1e3 for _ in range(args.iters)]
    ours_ms, bare_ms = statistics.median(ours), statistics.median(bare)
    return {"model": name, "size": args.size, "device": session.device.type,
            "threads": torch.get_num_threads(), "ours_p50_ms": ours_ms, "timer_ms": bare_ms,
            "diff_pct": 100 * (ours_ms - bare_ms) / bare_ms}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    rows = [compare(name, overrides, args) for name, overrides in MODELS.items()]
    print(f"{'model':22} {'size':>5} {'device':>6} {'thr':>4} {'ours p50 ms':>12} "
          f"{'Timer ms':>10} {'diff %':>7}  within 5 %")
    for r in rows:
        print(f"{r['model']:22} {r['size']:>5} {r['device']:>6} {r['threads']:>4} "
              f"{r['ours_p50_ms']:>12.3f} {r['timer_ms']:>10.3f} {r['diff_pct']:>+7.2f}  "
              f"{'yes' if abs(r['diff_pct']) <= 5 else 'NO'}")
    return 0 if all(abs(r["diff_pct"]) <= 5 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
