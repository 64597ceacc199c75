# Score one cell's predictions against the references from disk (CPU stage).


rule evaluate_predictions:
    input:
        split=SPLIT,
        masks=f"{CELL}/predict/predictions.npz",
        cases=f"{CELL}/predict/cases.csv",
        provenance=trained("provenance.json"),
        trained=trained("config.resolved.yaml"),  # read beside provenance.json
    output:
        f"{CELL}/evaluate/metrics.csv",
    params:
        overrides=cell_overrides,
    threads: 1
    resources:
        **resources_for("evaluate"),
    container:
        container_for("evaluate")
    log:
        f"{LOG}/evaluate.log",
    benchmark:
        f"{BENCH}/evaluate.tsv"
    shell:
        "OMP_NUM_THREADS={threads} python -m benchmarks.cli evaluate --pred $(dirname {input.masks}) --provenance {input.provenance} --out {output} "
        "--split {input.split} {params.overrides} > {log} 2>&1"
