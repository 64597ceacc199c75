"""The body of each Snakemake rule (train, predict, evaluate, throughput, aggregate, report)
and the other CLI commands (check, check-data, fetch-weights); ``benchmarks.cli`` calls them."""
