"""samseg-bench harness: everything that must be identical across methods (style guide B0.1)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
