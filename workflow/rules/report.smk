# Aggregate every declared cell into results/summary and render the HTML report (local rules).

localrules:
    aggregate_results,
    render_report,


rule aggregate_results:
    input:
        metrics=cell_targets("evaluate/metrics.csv"),
        benchmarks=[
            f"results/benchmarks/{run.path}/{stage}.tsv"
            for run in RUNS
            for stage in ("train", "predict", "evaluate")
        ],
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
        "python -m benchmarks.cli aggregate --metrics {input.metrics} --benchmarks {input.benchmarks} "
        "--out results/summary > {log} 2>&1"


rule render_report:
    input:
        rules.aggregate_results.output,
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
        "python -m benchmarks.cli report --summary results/summary --out {output} > {log} 2>&1"
