# Throughput: once per method x backbone x input size, apart from the accuracy runs (no dataset,
# fold or seed axis). GPU stage on Slurm (card resources.throughput, exclusive node via the
# profile); on the CPU in the demo. benchmarks/stages/throughput.py documents what is measured.


rule measure_throughput:
    output:
        throughput_plan.PATTERN,
    params:
        overrides=lambda wc: throughput_plan.overrides(config, wc.method, wc.backbone, wc.size),
    threads: 2
    resources:
        **resources_for("throughput"),
    container:
        container_for("throughput")
    log:
        "results/logs/throughput/method={method}/backbone={backbone}/size={size}.log",
    shell:
        "OMP_NUM_THREADS={threads} python -m benchmarks.cli throughput --out {output} "
        "{params.overrides} > {log} 2>&1"


rule summarize_throughput:
    input:
        throughput_plan.targets(config),
    output:
        report(
            "results/summary/throughput.csv",
            caption="../report/throughput.rst",
            category="Throughput",
        ),
    log:
        "results/logs/summarize_throughput.log",
    container:
        container_for("cpu")
    shell:
        "python -m benchmarks.cli throughput-summary --inputs {input} --out {output} > {log} 2>&1"
