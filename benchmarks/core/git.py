"""The repository's commit and whether the checkout is dirty (no torch: the report uses it)."""

from __future__ import annotations

import subprocess

from benchmarks.core import REPO_ROOT


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def sha() -> str:
    """The repository's commit, or "unknown"."""
    return _git("rev-parse", "HEAD")


def dirty() -> bool:
    """Uncommitted changes in the checkout (False where git cannot tell)."""
    return _git("status", "--porcelain") not in ("", "unknown")
