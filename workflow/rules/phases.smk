# The jobs of a multi-phase method's earlier phases (helpers and rerun command: phase_helpers.smk).


rule train_phase:
    input:
        split=SPLIT,
        prompts=prompts_input,
        init=phase_init,
    output:
        model=f"{PHASE_CELL}/train/model.pt",
        provenance=f"{PHASE_CELL}/train/provenance.json",
        log=f"{PHASE_CELL}/train/train_log.csv",
        config=f"{PHASE_CELL}/train/config.resolved.yaml",
    params:
        overrides=cell_overrides,
        phase=phase_args,
        out=f"{PHASE_CELL}/train",
    threads: 2
    resources:
        **resources_for("train"),
    container:
        container_for("train")
    log:
        f"{LOG}/phase={{phase}}/train.log",
    benchmark:
        f"{BENCH}/phase={{phase}}/train.tsv"
    shell:
        "OMP_NUM_THREADS={threads} python -m benchmarks.cli train --out {params.out} --split {input.split} {params.phase} "
        "{params.overrides} > {log} 2>&1"


rule predict_phase:
    input:
        split=SPLIT,
        prompts=prompts_input,
        model=f"{PHASE_CELL}/train/model.pt",
    output:
        masks=f"{PHASE_CELL}/predict/predictions.npz",
        cases=f"{PHASE_CELL}/predict/cases.csv",
    params:
        overrides=cell_overrides,
        out=f"{PHASE_CELL}/predict",
    threads: 2
    resources:
        **resources_for("predict"),
    container:
        container_for("predict")
    log:
        f"{LOG}/phase={{phase}}/predict.log",
    benchmark:
        f"{BENCH}/phase={{phase}}/predict.tsv"
    shell:
        "OMP_NUM_THREADS={threads} python -m benchmarks.cli predict --model {input.model} --out {params.out} --split {input.split} "
        "method.phase={wildcards.phase} {params.overrides} > {log} 2>&1"


rule evaluate_phase:
    input:
        split=SPLIT,
        masks=f"{PHASE_CELL}/predict/predictions.npz",
        cases=f"{PHASE_CELL}/predict/cases.csv",
        provenance=f"{PHASE_CELL}/train/provenance.json",
    output:
        f"{PHASE_CELL}/evaluate/metrics.csv",
    params:
        overrides=cell_overrides,
    threads: 1
    resources:
        **resources_for("evaluate"),
    container:
        container_for("evaluate")
    log:
        f"{LOG}/phase={{phase}}/evaluate.log",
    benchmark:
        f"{BENCH}/phase={{phase}}/evaluate.tsv"
    shell:
        "OMP_NUM_THREADS={threads} python -m benchmarks.cli evaluate --pred $(dirname {input.masks}) --provenance {input.provenance} --out {output} "
        "--split {input.split} {params.overrides} > {log} 2>&1"
