"""Per-case metrics and the statistics over cases and cells (no torch)."""
