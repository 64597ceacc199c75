"""Offline-safe process environment (shared/docs/cpu-feasibility.md §2): no run makes a network
attempt. Applied by the CLI before any third-party import; explicit settings of the user win."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from benchmarks.core import REPO_ROOT

CACHE = REPO_ROOT / ".cache"


def _font_for_ultralytics(config_dir: Path) -> None:
    """ultralytics fetches Arial.ttf on every train/val unless a TTF file is already there."""
    target = config_dir / "Ultralytics" / "Arial.ttf"
    if target.exists():
        return
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def apply() -> None:
    """Set the offline variables (setdefault) and place the ultralytics font."""
    threads = os.environ.get("SLURM_CPUS_PER_TASK") or str(os.cpu_count() or 1)
    defaults = {
        "HF_HUB_OFFLINE": "1",  # hub loaders fail fast instead of 23 s of retries per file
        "TRANSFORMERS_OFFLINE": "1",
        "YOLO_OFFLINE": "1",  # ultralytics: no DNS probe at import
        "YOLO_AUTOINSTALL": "0",  # ultralytics: never pip-install at run time
        "YOLO_CONFIG_DIR": str(CACHE / "ultralytics"),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(CACHE / "matplotlib"),
        # ultralytics sets OMP_NUM_THREADS=1 when unset, which halves torch speed on 2 cores
        "OMP_NUM_THREADS": threads,
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    _font_for_ultralytics(Path(os.environ["YOLO_CONFIG_DIR"]))
