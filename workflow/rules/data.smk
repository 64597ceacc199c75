# Embedded synthetic data and patient-level splits (one split file per dataset).


def data_marker(wc):
    """Generated datasets depend on their generator's output; real ones are external."""
    entry = config["datasets"][wc.dataset] or {}
    return [f"results/data/{wc.dataset}/cases.csv"] if entry.get("generate") else []


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
        "{CLI} make-data --kind {params.kind} --n {params.n} "
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
        "{CLI} split --out {output} {params.overrides} > {log} 2>&1"
