"""Where and with what a result was made: git, versions, host, hardware, Slurm, container."""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib import metadata
from typing import Any

from benchmarks.core import git
from benchmarks.runs import containers

PACKAGES = ("torch", "torchvision", "numpy", "scipy", "ultralytics", "hydra-core", "snakemake",
            "sam2", "segment-anything", "transformers", "nibabel", "pandas")


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _hardware() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info |= {"gpu": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
                 "cudnn": torch.backends.cudnn.version()}
    return info


def collect(**extra: Any) -> dict[str, Any]:
    """Provenance of the current process, plus ``extra`` fields (weights, split, counts)."""
    return {
        "git_sha": git.sha(),
        "git_dirty": git.dirty(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "versions": _versions(),
        "hardware": _hardware(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "container": containers.current(),  # image path, stack, sha256 (None outside Apptainer)
        **extra,
    }
