"""The Slurm profiles: every user-facing key commented, CI-only settings kept out of the user's."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.conftest import REPO

USER = REPO / "profiles" / "slurm" / "config.yaml"
CI = REPO / "profiles" / "slurm-ci" / "config.yaml"
CI_ONLY = {"slurm-status-command", "slurm-init-seconds-before-status-checks"}


def _uncommented_keys(path: Path) -> list[str]:
    """Top-level keys with no comment on their line nor on the line just above."""
    lines = path.read_text().splitlines()
    missing = []
    for number, line in enumerate(lines):
        key = re.match(r"^([a-z][a-z0-9-]*):", line)
        if key and "#" not in line and not lines[number - 1].lstrip().startswith("#"):
            missing.append(key.group(1))
    return missing


def test_every_key_of_both_profiles_is_commented() -> None:
    assert _uncommented_keys(USER) == []
    assert _uncommented_keys(CI) == []


def test_user_profile_has_no_ci_settings() -> None:
    user = yaml.safe_load(USER.read_text())
    assert not CI_ONLY & set(user)
    assert "slurm_partition" not in user["default-resources"]  # the user's to set
    assert "slurm_account" not in user["default-resources"]
    assert "# slurm_account:" in USER.read_text() and "# slurm_partition:" in USER.read_text()


def test_user_profile_settings() -> None:
    user = yaml.safe_load(USER.read_text())
    assert user["executor"] == "slurm"
    assert user["retries"] >= 1  # runtime and memory scale with `attempt` in common.smk
    # many 2-second jobs, grouped; the earlier phases' scoring too
    assert user["groups"] == ["evaluate_predictions=evaluate", "evaluate_phase=evaluate"]
    assert user["group-components"] == ["evaluate=20"]
    assert user["apptainer-args"].startswith("--nv --bind ")
    assert (user["scheduler"], user["scheduler-subsample"]) == ("greedy", 50)


def test_ci_layer_only_overrides_and_keeps_squeue_polling_safe() -> None:
    ci = yaml.safe_load(CI.read_text())
    assert "executor" not in ci  # comes from the user profile it is layered on
    assert ci["slurm-status-command"] == "squeue"
    # the plugin silently falls back to sacct (which hangs without accounting) unless
    # MinJobAge (300 s in .ci/slurm/start.sh) >= 3 x the first-check delay
    start = (REPO / ".ci" / "slurm" / "start.sh").read_text()
    min_job_age = int(re.search(r"^MinJobAge=(\d+)", start, re.M).group(1))
    assert min_job_age >= 3 * ci["slurm-init-seconds-before-status-checks"]
    assert ci["default-resources"]["mem_mb"] >= 1000  # OverMemoryKill vs Snakemake's own RSS
