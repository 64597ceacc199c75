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
from tests.integration.test_phases_grid import SYNTHETIC
from tests.slurm.test_slurm_grid import BIN, REPO, _slurm_answers

pytestmark = [pytest.mark.slurm,
              pytest.mark.skipif(_slurm_answers() is not None, reason=str(_slurm_answers()))]


def _slurm_dry_run(tmp_path: Path, config: dict) -> str:
    """The stdout of a dry run of ``config`` under the user's Slurm profile."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "workflow" / "Snakefile"),
           "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "-n",
           "--profile", str(REPO / "profiles" / "slurm"),  # the CI layer groups 1 per job
           "--default-resources", "slurm_partition=debug", "mem_mb=1000", "runtime=5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env(),
                          cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _group_sizes(stdout: str, rule: str) -> list[int]:
    """Jobs of ``rule`` in each "Group job evaluate" of a dry run, sorted."""
    groups = re.split(r"Group job evaluate \(jobs in lexicogr\. order\):", stdout)[1:]
    return sorted(len(re.findall(rf"^\s+rule {rule}:", g, re.M)) for g in groups)


def test_dry_run_groups_evaluation_jobs_by_twenty(tmp_path: Path) -> None:
    config = {**GRID, "seeds": [0, 1, 2]}  # 2 datasets x 4 backbones x 2 folds x 3 seeds = 48
    stdout = _slurm_dry_run(tmp_path, config)
    assert _group_sizes(stdout, "evaluate_predictions") == [8, 20, 20]  # 500 jobs at 10,000 cells
    assert "\nrule evaluate_predictions:" not in stdout  # none left ungrouped


def test_earlier_phases_are_scored_in_the_same_groups(tmp_path: Path) -> None:
    """UltraRefiner's coarse scoring (evaluate_phase) goes out grouped like evaluate_predictions:
    2 folds -> 4 evaluate_predictions (2 methods) + 2 evaluate_phase, one group of 6."""
    stdout = _slurm_dry_run(tmp_path, SYNTHETIC)
    assert _group_sizes(stdout, "evaluate_phase") == [2]
    assert _group_sizes(stdout, "evaluate_predictions") == [4]
    assert "\nrule evaluate_phase:" not in stdout  # none left ungrouped
