"""Every command of the README's command tables still works, at least as a dry run or ``--help``:
snakemake commands are planned with ``-n`` in a copy of the repository, CLI and perf commands
answer ``--help`` for their subcommand, the sbatch wrapper parses with ``bash -n``."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED_DATA

ROW = re.compile(r"^\| [^|]+ \| (?P<cell>.*)\|\s*$", re.M)


def readme_commands() -> list[str]:
    """The backticked commands of the README's `| task | command |` tables (the first column
    names the task; code spans that are flags or notes are not commands)."""
    text = (REPO / "README.md").read_text()
    found = []
    for row in ROW.finditer(text):
        for span in re.findall(r"`([^`]+)`", row["cell"]):
            if re.match(r"^([A-Z_]+=\S+ )*(snakemake|python|make|sbatch) ", span + " "):
                found.append(span)
    return found


COMMANDS = readme_commands()


def _repo_copy(tmp: Path) -> Path:
    """The tracked and new files of the checkout under ``tmp/repo``, ``tmp/shared`` linking the
    shared samples, so that plans write nothing into the real results/ folder."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    root = tmp / "repo"
    for name in files:
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    if SHARED_DATA.exists():
        (tmp / "shared").mkdir()
        (tmp / "shared" / "data").symlink_to(SHARED_DATA)
    return root


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _repo_copy(tmp_path_factory.mktemp("readme"))


def _checked_form(step: list[str], root: Path) -> list[str]:
    """What is run for one README step: a plan, ``--help`` or a parse."""
    tool = step[0]
    if tool == "snakemake":
        if "--report" in step:  # needs a finished run's metadata: check the flag exists
            return ["snakemake", "--help"]
        return [*step, "-n", "--quiet", "rules"] if "--" not in step else \
            [*step[:step.index("--")], "-n", "--quiet", "rules", *step[step.index("--"):]]
    if tool == "python" and step[1:3] == ["-m", "benchmarks.cli"]:
        return ["python", "-m", "benchmarks.cli", step[3], "--help"]
    if tool == "python" and step[1:3] == ["-m", "tests.browser"]:
        return ["python", "-c", "import tests.browser"]
    if tool == "python":
        return ["python", step[1], "--help"]
    if tool == "make":
        return ["make", "-n", *step[1:]]
    if tool == "sbatch":
        return ["bash", "-n", step[1]]
    raise AssertionError(f"README command of an unknown kind: {step}")


def _steps(command: str) -> tuple[dict[str, str], list[list[str]]]:
    words = shlex.split(command)
    env = {}
    while words and re.match(r"^[A-Z_]+=", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    steps, step = [], []
    for word in words:
        if word == "&&":
            steps.append(step)
            step = []
        else:
            step.append(word)
    return env, [*steps, step]


def test_the_readme_has_its_commands() -> None:
    assert len(COMMANDS) >= 20 and any("profiles/slurm" in c for c in COMMANDS), COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_plans_or_answers(command: str, repo_copy: Path) -> None:
    if "config.real" in command and not SHARED_DATA.exists():
        pytest.skip(f"the real samples are not at {SHARED_DATA}")
    containers = shutil.which("apptainer") or shutil.which("singularity")
    if "--sdm apptainer" in command and not containers:
        pytest.skip("no apptainer/singularity here: snakemake refuses --sdm apptainer without it "
                    "(the same plan without containers is the row before)")
    extra, steps = _steps(command)
    env = dict(os.environ, PYTHONPATH=str(repo_copy), **extra)
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env['PATH']}"
    for step in steps:
        run = _checked_form(step, repo_copy)
        proc = subprocess.run(run, cwd=repo_copy, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, f"{run}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
