# Pinned prompt files: one per (dataset, protocol, seed), made from the split and read by every
# prompted method (benchmarks/data/prompts.py documents the protocols and the (x, y) convention).


rule make_prompts:
    input:
        SPLIT,
    output:
        grid.PROMPTS_PATTERN,
    wildcard_constraints:
        protocol=prompts.PROTOCOL_PATTERN,
    params:
        overrides=dataset_overrides,
    container:
        container_for("cpu")
    log:
        "results/logs/make_prompts/dataset={dataset}/protocol={protocol}/seed={seed}.log",
    shell:
        "python -m benchmarks.cli prompts --split {input} --protocol {wildcards.protocol} --seed {wildcards.seed} "
        "--out {output} {params.overrides} > {log} 2>&1"
