# Two commands on a fresh machine: `make demo` (demo grid -> results/report/report.html) and
# `make test`. Both create the project-local virtual environment when it is missing.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
PYTHON ?= python3.11
LOCKS := envs/requirements.txt envs/requirements-test.txt envs/constraints.txt
export PATH := $(abspath $(VENV))/bin:$(PATH)
export SAM2_BUILD_CUDA := 0

.PHONY: setup demo test lint clean-results

setup: $(STAMP)

$(STAMP): $(LOCKS)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q \
	    -r envs/requirements.txt -r envs/requirements-test.txt -c envs/constraints.txt
	touch $(STAMP)

demo: setup
	snakemake --profile profiles/local

test: setup
	pytest -m "not gpu and not container"

lint: setup
	ruff check . && lint-imports && snakemake --lint

clean-results:
	rm -rf results/runs results/summary results/report results/status results/benchmarks results/throughput \
	    results/logs results/splits results/data .snakemake
