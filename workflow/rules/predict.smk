# Predict the test fold of one cell with its trained model (GPU stage).


rule predict_cases:
    input:
        split=SPLIT,
        prompts=prompts_input,
        model=trained("model.pt"),  # an external test set: its train_from cell's model
    output:
        masks=f"{CELL}/predict/predictions.npz",
        cases=f"{CELL}/predict/cases.csv",
    params:
        overrides=cell_overrides,
        out=f"{CELL}/predict",
    threads: 2
    resources:
        **resources_for("predict"),
    container:
        container_for("predict")
    log:
        f"{LOG}/predict.log",
    benchmark:
        f"{BENCH}/predict.tsv"
    shell:
        "OMP_NUM_THREADS={threads} python -m benchmarks.cli predict --model {input.model} --out {params.out} --split {input.split} "
        "{params.overrides} > {log} 2>&1"
