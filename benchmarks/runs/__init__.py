"""The grid and its cells: config composition, grid expansion, status records, cell locks,
containers, provenance, Slurm submission and the throughput plan."""
