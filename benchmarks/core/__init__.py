"""Plumbing every layer may use: atomic I/O, the method/loader registry, timing, offline
settings, weights files and the parsed-file cache. Imports nothing else of the suite."""

from pathlib import Path

# The repository checkout: benchmarks/ and methods/ side by side.
REPO_ROOT = Path(__file__).resolve().parents[2]
