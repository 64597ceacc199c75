# Train one grid cell (GPU stage).


rule train_model:
    input:
        split=SPLIT,
    output:
        model=CELL + "/train/model.pt",
        provenance=CELL + "/train/provenance.json",
        log=CELL + "/train/train_log.csv",
        config=CELL + "/train/config.resolved.yaml",
    params:
        overrides=cell_overrides,
        out=lambda wc, output: Path(output.model).parent,
    threads: 2
    resources:
        **resources_for("train"),
    container:
        container_for("train")
    log:
        LOG + "/train.log",
    benchmark:
        BENCH + "/train.tsv"
    shell:
        "OMP_NUM_THREADS={threads} {CLI} train --out {params.out} --split {input.split} {params.overrides} > {log} 2>&1"
