# Score one cell's predictions against the references from disk (CPU stage).


rule evaluate_predictions:
    input:
        split=SPLIT,
        masks=CELL + "/predict/predictions.npz",
        cases=CELL + "/predict/cases.csv",
        provenance=CELL + "/train/provenance.json",
    output:
        CELL + "/evaluate/metrics.csv",
    params:
        overrides=cell_overrides,
        pred=lambda wc, input: Path(input.masks).parent,
    threads: 1
    resources:
        **resources_for("evaluate"),
    container:
        container_for("evaluate")
    log:
        LOG + "/evaluate.log",
    benchmark:
        BENCH + "/evaluate.tsv"
    shell:
        "OMP_NUM_THREADS={threads} {CLI} evaluate --pred {params.pred} --provenance {input.provenance} --out {output} "
        "--split {input.split} {params.overrides} > {log} 2>&1"
