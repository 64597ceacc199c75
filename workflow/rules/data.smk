# Embedded synthetic data and patient-level splits (one split file per dataset).


rule make_data:
    output:
        "results/data/{dataset}/cases.csv",
    params:
        kind=lambda wc: config["datasets"][wc.dataset]["generate"],
        n=lambda wc: config["datasets"][wc.dataset].get("n_cases", 40),
    log:
        "results/logs/make_data/{dataset}.log",
    container:
        container_for("cpu")
    shell:
        "python -m benchmarks.cli make-data --kind {params.kind} --n {params.n} "
        "--out results/data/{wildcards.dataset} > {log} 2>&1"


rule make_split:
    input:
        data_marker,
    output:
        SPLIT,
    params:
        overrides=dataset_overrides,
    log:
        "results/logs/make_split/{dataset}.log",
    container:
        container_for("cpu")
    shell:
        "python -m benchmarks.cli split --out {output} {params.overrides} > {log} 2>&1"
