"""Where and with what a result was made: git, versions, host, hardware, Slurm, container."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from typing import Any

from benchmarks import REPO_ROOT, containers

PACKAGES = ("torch", "torchvision", "numpy", "scipy", "ultralytics", "hydra-core", "snakemake",
            "sam2", "segment-anything", "transformers", "nibabel", "pandas")


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def git_sha() -> str:
    """The repository's commit, or "unknown" (no torch import: the report stage uses it)."""
    return _git("rev-parse", "HEAD")


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
        "git_sha": git_sha(),
        "git_dirty": _git("status", "--porcelain") not in ("", "unknown"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "versions": _versions(),
        "hardware": _hardware(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "container": containers.current(),  # image path, stack, sha256 (None outside Apptainer)
        **extra,
    }
