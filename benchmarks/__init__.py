"""samseg-bench harness: everything that must be identical across methods (style guide B0.1).

Packages by role, each importing only the ones below it (ARCHITECTURE.md; checked by
import-linter, `make lint`): cli -> stages -> report -> runs -> data | scoring -> core.
"""
