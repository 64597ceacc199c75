"""A grid run in two folders (one method each, as two clusters would), exported, imported into a
third: the merged report holds the same tables as the one-folder run of the whole grid.

Zero-shot tiny variants (random init, nothing trained) make every prediction deterministic, so the
per-case metrics of the two runs must agree to the last digit. Both halves make the splits and
prompts of both datasets themselves: the import checks that they are byte-identical.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.integration.test_dryrun import REPO, _env, run_grid

CPU = {"train": {"gpu": 0, "runtime_min": 10, "mem_gb": 3},
       "predict": {"gpu": 0, "runtime_min": 10, "mem_gb": 3},
       "throughput": {"gpu": 0, "runtime_min": 10, "mem_gb": 3}}
TINY = ["method.variant=tiny", "method.image_size=64"]
pytestmark = pytest.mark.slow  # three small grid runs: about 6 min on 2 shared cores

METHODS = {"sam_zeroshot": {"backbones": ["tiny"], "overrides": TINY, "resources": CPU},
           "medsam_zeroshot": {"backbones": ["tiny"], "overrides": TINY, "resources": CPU}}


def grid(methods: list[str]) -> dict:
    bus = {"loader": "synthetic_bus", "generate": "bus", "overrides": ["dataset.n_folds=3"]}
    return {"datasets": {"bus_a": bus | {"root": "results/data/bus_a", "n_cases": 12},
                         "bus_b": bus | {"root": "results/data/bus_b", "n_cases": 9}},
            "methods": {m: METHODS[m] for m in methods}, "prompts": ["box"],
            "throughput": {"overrides": ["warmup=1", "iters=2", "batch_iters=1", "max_batch=1"]},
            "folds": [0], "seeds": [0]}


def cli(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", *args], cwd=REPO,
                          env=_env(), capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bundle_grid")
    for name in ("one", "A", "B"):
        (root / name).mkdir()
    out = {name: run_grid(root / name, grid(methods)) / "results" for name, methods in
           (("one", list(METHODS)), ("A", ["sam_zeroshot"]), ("B", ["medsam_zeroshot"]))}
    for site in ("A", "B"):
        cli("bundle", "export", "--results", str(out[site]), "--out",
            str(root / f"{site}.tar.gz"), "--site", f"cluster-{site}")
    start = time.perf_counter()
    print(cli("bundle", "import", "--results", str(root / "C" / "results"),
              str(root / "A.tar.gz"), str(root / "B.tar.gz"), "--report"))
    print(f"import + report: {time.perf_counter() - start:.1f} s")
    out["C"] = root / "C" / "results"
    return out


def _section(html: str, anchor: str) -> str:
    part = html[html.index(f"<section id='{anchor}'>"):]
    return part[:part.index("</section>")]


def test_merged_summary_tables_equal_the_one_folder_run(runs: dict[str, Path]) -> None:
    for name in ("metrics.csv", "summary.csv"):
        one = pd.read_csv(runs["one"] / "summary" / name)
        merged = pd.read_csv(runs["C"] / "summary" / name)
        pd.testing.assert_frame_equal(one, merged)
    status = [pd.read_csv(runs[k] / "summary" / "status.csv")[["cell", "stage", "state"]]
              .sort_values(["cell", "stage"]).reset_index(drop=True) for k in ("one", "C")]
    pd.testing.assert_frame_equal(*status)


def test_merged_report_has_the_same_tables(runs: dict[str, Path]) -> None:
    one = (runs["one"] / "report" / "report.html").read_text()
    merged = (runs["C"] / "report" / "report.html").read_text()
    for anchor in ("headline", "glance", "results", "published", "counts", "definitions"):
        assert _section(one, anchor) == _section(merged, anchor), anchor
    # the statistics tables too (figures aside: the PNG bytes are not the claim)
    strip = re.compile(r'<img src="data:image/png;base64,[^"]*"')
    assert strip.sub("", _section(one, "statistics")) == strip.sub("", _section(merged,
                                                                                "statistics"))


def test_report_names_the_site_of_each_cell(runs: dict[str, Path]) -> None:
    html = (runs["C"] / "report" / "report.html").read_text()
    assert "cluster-A: 2, cluster-B: 2" in _section(html, "provenance")
    sites = pd.read_csv(runs["C"] / "bundles" / "sites.csv")
    assert sorted(sites["site"]) == ["cluster-A"] * 2 + ["cluster-B"] * 2
