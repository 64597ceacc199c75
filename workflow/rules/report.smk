# Aggregate every declared cell into results/summary and render the HTML report (local rules).
# Every summary table is also written as Parquet beside its CSV (benchmarks/io.write_summary).

localrules:
    aggregate_results,
    summarize_provenance,
    summarize_throughput,
    render_report,


# Sentinels made by the rules alone (touch()), never by the onerror path below, which writes the
# same summaries and report for a partial grid. Snakemake replans a job only when an output that a
# job it runs needs is missing: a partial summary that looked complete would hide every cell whose
# metrics are missing ("Nothing to be done"). onerror removes the sentinels, so the next run
# remakes the report and, on its way, the missing cells (issue 19); every cell stage removes them
# when it starts (benchmarks/runs/freshness.py SENTINELS, the same paths). Snakemake's incomplete
# markers cover only the outputs of jobs it ran itself, so we cannot use them here.
AGGREGATE_DONE = "results/summary/aggregate.done"
REPORT_DONE = "results/report/report.done"
AGGREGATE = f"python -m benchmarks.cli aggregate --cells {CELLS_LIST} --results results --out results/summary"
PROVENANCE = (f"python -m benchmarks.cli provenance-summary --cells {CELLS_LIST} --results results "
              "--out results/summary/provenance.csv")
REPORT = "python -m benchmarks.cli report --summary results/summary --out results/report/report.html"


rule aggregate_results:
    input:
        # only for the order of jobs: the benchmark files and status records of each cell are
        # found from the cell list, and the command line stays short at any grid size
        cells=CELLS_LIST,
        metrics=cell_targets("evaluate/metrics.csv"),
        phases=phase_targets("evaluate/metrics.csv"),
    output:
        metrics="results/summary/metrics.csv",
        summary="results/summary/summary.csv",
        jobs="results/summary/jobs.csv",
        status="results/summary/status.csv",
        done=touch(AGGREGATE_DONE),
    log:
        "results/logs/aggregate_results.log",
    container:
        container_for("cpu")
    shell:
        f"{AGGREGATE} > {{log}} 2>&1"


rule summarize_provenance:
    input:
        # as for the aggregate: the files are found from the cell list, not the command line
        cells=CELLS_LIST,
        provenance=trained_targets("provenance.json"),
    output:
        "results/summary/provenance.csv",
    log:
        "results/logs/summarize_provenance.log",
    container:
        container_for("cpu")
    shell:
        f"{PROVENANCE} > {{log}} 2>&1"


rule render_report:
    input:
        rules.aggregate_results.output,
        rules.summarize_provenance.output,
        rules.summarize_throughput.output,
        PUBLISHED,
    output:
        report(
            "results/report/report.html",
            caption="../report/report.rst",
            category="Benchmark report",
        ),
        touch(REPORT_DONE),
    log:
        "results/logs/render_report.log",
    container:
        container_for("cpu")
    shell:
        f"{REPORT} > {{log}} 2>&1"


onerror:
    # A failed job must not cost the whole grid its report (--keep-going in every profile): the
    # cells that finished are aggregated and the missing ones listed with their reasons. The old
    # report goes first, so that a failure here never leaves yesterday's page looking current, and
    # every summary the report reads is remade (the provenance too: else its warnings would name
    # the cells of an earlier config).
    shell(f"mkdir -p results/logs && "
          f"rm -f results/report/report.html {AGGREGATE_DONE} {REPORT_DONE} && "
          f"{AGGREGATE} > results/logs/aggregate_results.log 2>&1 && "
          f"{PROVENANCE} > results/logs/summarize_provenance.log 2>&1 && "
          f"{REPORT} > results/logs/render_report.log 2>&1 && "
          "echo 'partial report (failed cells in its failure table): results/report/report.html'"
          " || echo 'no partial report: see results/logs/aggregate_results.log'")
