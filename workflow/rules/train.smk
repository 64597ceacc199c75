# Train one grid cell (GPU stage).


rule train_model:
    input:
        split=SPLIT,
        prompts=prompts_input,
        init=phase_init,  # multi-phase methods: the previous phase's model.pt (phases.smk)
    output:
        model=f"{CELL}/train/model.pt",
        provenance=f"{CELL}/train/provenance.json",
        log=f"{CELL}/train/train_log.csv",
        config=f"{CELL}/train/config.resolved.yaml",
    params:
        overrides=cell_overrides,
        phase=phase_args,
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
        "OMP_NUM_THREADS={threads} python -m benchmarks.cli train --out {params.out} --split {input.split} {params.phase} {params.overrides} > {log} 2>&1"
