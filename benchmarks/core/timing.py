"""Timing and memory primitives of the throughput stage (metric-conventions.md §2.11).

Warm-up calls run first and are never timed. On CUDA every timed call is bracketed by CUDA events
on the current stream and waited for, so asynchronous kernel launches are not mistaken for work
done; on the CPU a monotonic wall clock is read around each call. Peak memory is CUDA's
allocator peak (allocated and reserved), or the process's peak resident set on the CPU, reset
before each measurement through ``/proc/self/clear_refs`` (Linux >= 4.0).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

MIB = 2**20
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def summarize_ms(times_ms: list[float]) -> dict[str, float]:
    """p50/p90/p99 and mean of per-call times in milliseconds (linear interpolation)."""
    arr = np.asarray(times_ms, dtype=float)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {"latency_ms_p50": float(p50), "latency_ms_p90": float(p90),
            "latency_ms_p99": float(p99), "latency_ms_mean": float(arr.mean())}


def synchronize(device: Any) -> None:
    """Wait for every queued kernel on a CUDA device; nothing to wait for on the CPU."""
    if getattr(device, "type", "cpu") == "cuda":
        import torch

        torch.cuda.synchronize(device)


def _cuda_times(fn: Callable[[], Any], iters: int) -> list[float]:
    import torch

    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))  # milliseconds
    return times


def time_calls(fn: Callable[[], Any], warmup: int, iters: int, device: Any = None,
               clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Run ``fn`` ``warmup`` times untimed, then ``iters`` timed times; milliseconds per call.

    ``clock`` (seconds) is read around each CPU call; tests pass a fake one. On CUDA the times
    come from CUDA events instead.
    """
    for _ in range(warmup):
        fn()
    synchronize(device)
    if getattr(device, "type", "cpu") == "cuda":
        return _cuda_times(fn, iters)
    times = []
    for _ in range(iters):
        start = clock()
        fn()
        times.append((clock() - start) * 1e3)
    return times


def reset_peaks(device: Any) -> None:
    """Start a new peak-memory window (CUDA allocator peaks, or the process's peak RSS)."""
    if getattr(device, "type", "cpu") == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats(device)
    elif _CLEAR_REFS.exists():
        # "5" resets VmHWM to the current RSS (proc(5)); where that is not permitted the peak
        # covers the whole process
        with contextlib.suppress(OSError):
            _CLEAR_REFS.write_text("5")


def read_peaks(device: Any) -> dict[str, float]:
    """Peak memory since :func:`reset_peaks`, in MiB (NaN for what the device does not have)."""
    nan = float("nan")
    if getattr(device, "type", "cpu") == "cuda":
        import torch

        return {"peak_alloc_mib": torch.cuda.max_memory_allocated(device) / MIB,
                "peak_reserved_mib": torch.cuda.max_memory_reserved(device) / MIB,
                "peak_rss_mib": nan}
    return {"peak_alloc_mib": nan, "peak_reserved_mib": nan, "peak_rss_mib": peak_rss_mib()}


def peak_rss_mib() -> float:
    """The process's peak resident set size (VmHWM), or ru_maxrss where /proc is absent."""
    if _STATUS.exists():
        match = re.search(r"VmHWM:\s+(\d+)\s+kB", _STATUS.read_text())
        if match:
            return int(match.group(1)) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
