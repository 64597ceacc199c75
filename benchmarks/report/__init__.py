"""Building blocks and sections of the HTML report (no torch); assembled by ``stages.report``."""
