# Aggregate every declared cell into results/summary and render the HTML report (local rules).
# Every summary table is also written as Parquet beside its CSV (benchmarks/io.write_summary).

localrules:
    aggregate_results,
    summarize_provenance,
    summarize_throughput,
    render_report,


AGGREGATE = f"python -m benchmarks.cli aggregate --cells {CELLS_LIST} --results results --out results/summary"
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
        "python -m benchmarks.cli provenance-summary --cells {input.cells} --results results "
        "--out {output} > {log} 2>&1"


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
    log:
        "results/logs/render_report.log",
    container:
        container_for("cpu")
    shell:
        f"{REPORT} > {{log}} 2>&1"


onerror:
    # A failed job must not cost the whole grid its report (--keep-going in every profile): the
    # cells that finished are aggregated and the missing ones listed with their reasons.
    shell(f"mkdir -p results/logs && {AGGREGATE} > results/logs/aggregate_results.log 2>&1 && "
          f"{REPORT} > results/logs/render_report.log 2>&1 && "
          "echo 'partial report (failed cells in its failure table): results/report/report.html'"
          " || echo 'no partial report: see results/logs/aggregate_results.log'")
