# Predict the test fold of one cell with its trained model (GPU stage).


rule predict_cases:
    input:
        split=SPLIT,
        model=CELL + "/train/model.pt",
    output:
        masks=CELL + "/predict/predictions.npz",
        cases=CELL + "/predict/cases.csv",
    params:
        overrides=cell_overrides,
        out=lambda wc, output: Path(output.masks).parent,
    threads: 2
    resources:
        **resources_for("predict"),
    container:
        container_for("predict")
    log:
        LOG + "/predict.log",
    benchmark:
        BENCH + "/predict.tsv"
    shell:
        "OMP_NUM_THREADS={threads} {CLI} predict --model {input.model} --out {params.out} --split {input.split} "
        "{params.overrides} > {log} 2>&1"
