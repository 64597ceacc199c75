# Train one grid cell (GPU stage).


rule train_model:
    input:
        split=SPLIT,
        prompts=prompts_input,
    output:
        model=f"{CELL}/train/model.pt",
        provenance=f"{CELL}/train/provenance.json",
        log=f"{CELL}/train/train_log.csv",
        config=f"{CELL}/train/config.resolved.yaml",
    params:
        overrides=cell_overrides,
        out=f"{CELL}/train",
    threads: 2
    resources:
        **resources_for("train"),
    container:
        container_for("train")
    log:
        f"{LOG}/train.log",
    benchmark:
        f"{BENCH}/train.tsv"
    shell:
        "OMP_NUM_THREADS={threads} python -m benchmarks.cli train --out {params.out} --split {input.split} {params.overrides} > {log} 2>&1"
