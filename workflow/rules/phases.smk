# The jobs of a multi-phase method's earlier phases (helpers and rerun command: phase_helpers.smk).


rule train_phase:
    input:
        split=SPLIT,
        prompts=prompts_input,
        init=phase_init,
        coarse_masks=oof_input,
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


# Out-of-fold masks of an earlier phase (benchmarks/data/oof.py): one model per training half ...
rule train_oof:
    input:
        split=SPLIT,
        prompts=prompts_input,
        init=phase_init,
    output:
        model=f"{OOF_CELL}/train/model.pt",
        provenance=f"{OOF_CELL}/train/provenance.json",
        log=f"{OOF_CELL}/train/train_log.csv",
        config=f"{OOF_CELL}/train/config.resolved.yaml",
    params:
        overrides=cell_overrides,
        phase=phase_args,
        out=f"{OOF_CELL}/train",
    threads: 2
    resources:
        **resources_for("train"),
    container:
        container_for("train")
    log:
        f"{LOG}/phase={{phase}}/half={{half}}/train.log",
    benchmark:
        f"{BENCH}/phase={{phase}}/half={{half}}/train.tsv"
    shell:
        "OMP_NUM_THREADS={threads} python -m benchmarks.cli train --out {params.out} --split {input.split} --part train_half{wildcards.half} "
        "{params.phase} {params.overrides} > {log} 2>&1"


# ... which predicts the other half, keeping the probabilities (oof.json names who predicted what)
rule predict_oof:
    input:
        split=SPLIT,
        prompts=prompts_input,
        model=f"{OOF_CELL}/train/model.pt",
        provenance=f"{OOF_CELL}/train/provenance.json",
    output:
        masks=f"{OOF_CELL}/predict/predictions.npz",
        cases=f"{OOF_CELL}/predict/cases.csv",
        record=f"{OOF_CELL}/predict/oof.json",
    params:
        overrides=cell_overrides,
        other=lambda wc: 1 - int(wc.half),
        out=f"{OOF_CELL}/predict",
    threads: 2
    resources:
        **resources_for("predict"),
    container:
        container_for("predict")
    log:
        f"{LOG}/phase={{phase}}/half={{half}}/predict.log",
    benchmark:
        f"{BENCH}/phase={{phase}}/half={{half}}/predict.tsv"
    shell:
        "OMP_NUM_THREADS={threads} python -m benchmarks.cli predict --model {input.model} --out {params.out} --split {input.split} "
        "--part train_half{params.other} method.phase={wildcards.phase} {params.overrides} > {log} 2>&1"
