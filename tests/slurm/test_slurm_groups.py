"""Evaluation jobs go to Slurm grouped: a dry run of the user's Slurm profile on the CI cluster
lists one "Group job evaluate" per 20 cells, each holding that many evaluate_predictions jobs.
(profiles/slurm-ci keeps one cell per job: see the comment there.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.test_dryrun import GRID, _env
from tests.slurm.test_slurm_grid import BIN, REPO, _slurm_answers

pytestmark = [pytest.mark.slurm,
              pytest.mark.skipif(_slurm_answers() is not None, reason=str(_slurm_answers()))]


def test_dry_run_groups_evaluation_jobs_by_twenty(tmp_path: Path) -> None:
    config = {**GRID, "seeds": [0, 1, 2]}  # 2 datasets x 4 backbones x 2 folds x 3 seeds = 48
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "workflow" / "Snakefile"),
           "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "-n",
           "--profile", str(REPO / "profiles" / "slurm"),  # the CI layer groups 1 per job
           "--default-resources", "slurm_partition=debug", "mem_mb=1000", "runtime=5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env(),
                          cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    groups = re.split(r"Group job evaluate \(jobs in lexicogr\. order\):", proc.stdout)[1:]
    sizes = sorted(len(re.findall(r"^\s+rule evaluate_predictions:", g, re.M)) for g in groups)
    assert sizes == [8, 20, 20]  # 48 cells: 500 Slurm jobs at 10,000 cells, not 10,000
    assert "\nrule evaluate_predictions:" not in proc.stdout  # none left ungrouped
