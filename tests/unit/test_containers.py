"""Container definitions: sections present, every package pinned, .def == envs/<stack>.yaml == lock.

Apptainer is not installed in CI, so the images are not built here; these checks keep the
definitions honest, and the provenance digest is checked on a stand-in file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from benchmarks.core import registry
from benchmarks.runs import containers


@pytest.mark.parametrize("stack", ["sam", "ultralytics", "eval"])
def test_stack_agrees_with_env_file_and_lock(stack: str) -> None:
    assert stack in containers.stacks()
    assert containers.stack_problems(stack) == []


@pytest.mark.parametrize("stack", containers.stacks())
def test_def_has_header_sections_and_copies_the_lock(stack: str) -> None:
    text = (containers.CONTAINERS_DIR / f"{stack}.def").read_text()
    sections = containers.def_sections(text)
    assert "Bootstrap: docker" in sections["header"]
    assert "From: debian:12" in sections["header"]
    assert "envs/constraints.txt" in sections["%files"]  # pip runs with -c constraints.txt
    assert f"SAMSEG_STACK={stack}" in sections["%environment"]
    assert f"org.samseg.env envs/{stack}.yaml" in sections["%labels"]
    assert containers.def_requirements(text)  # at least one pinned install


def test_torch_pins_equal_the_lock() -> None:
    lock = containers.lock_versions()
    for stack in containers.stacks():
        pins = containers.env_requirements(containers.ENVS_DIR / f"{stack}.yaml")
        assert pins["torch"] == lock["torch"] == "2.14.1"


def test_every_method_names_an_existing_stack() -> None:
    for method_id in registry.list_methods():
        stack = registry.read_card(method_id)["stack"]
        assert containers.image_path("/img", stack) == f"/img/{stack}.sif"


def test_unknown_stack_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no containers/nope.def"):
        containers.image_path("/img", "nope")


def test_checker_catches_unpinned_and_drifting_versions(tmp_path: Path, monkeypatch) -> None:
    for name in ("containers", "envs"):
        (tmp_path / name).mkdir()
    (tmp_path / "envs" / "constraints.txt").write_text("torch==2.14.1\nnumpy==2.4.6\n")
    body = "\n".join(f"{s}\n    x" for s in containers.SECTIONS)
    (tmp_path / "containers" / "x.def").write_text(
        body + "\n%post\n    /opt/venv/bin/pip install -c c.txt torch==2.14.1 \\\n        numpy\n")
    (tmp_path / "envs" / "x.yaml").write_text(
        "dependencies:\n  - pip:\n      - torch==2.13.0\n      - numpy>=2\n")
    monkeypatch.setattr(containers, "CONTAINERS_DIR", tmp_path / "containers")
    monkeypatch.setattr(containers, "ENVS_DIR", tmp_path / "envs")
    monkeypatch.setattr(containers, "lock_versions",
                        lambda: {"torch": "2.14.1", "numpy": "2.4.6"})
    problems = containers.stack_problems("x")
    assert "x: numpy not pinned with ==" in problems
    assert "x: torch==2.13.0 but envs/constraints.txt has 2.14.1" in problems
    assert any("containers/x.def installs" in p for p in problems)  # .def and .yaml differ


def test_parse_requirement() -> None:
    assert containers.parse_requirement("Hydra_Core==1.3.8") == ("hydra-core", "1.3.8")
    assert containers.parse_requirement("torch>=2") == ("torch", None)
    assert containers.parse_requirement("numpy") == ("numpy", None)


def test_image_sha256_uses_fresh_sidecar_and_recomputes_stale(tmp_path: Path) -> None:
    image = tmp_path / "eval.sif"
    image.write_bytes(b"not really an image")
    real = hashlib.sha256(b"not really an image").hexdigest()
    assert containers.image_sha256(image) == (real, "computed")
    assert (tmp_path / "eval.sif.sha256").read_text() == f"{real}  eval.sif\n"
    assert containers.image_sha256(image) == (real, "sidecar")
    image.write_bytes(b"rebuilt")  # newer than the sidecar: the cached digest is stale
    os.utime(tmp_path / "eval.sif.sha256", (1, 1))
    assert containers.image_sha256(image) == (hashlib.sha256(b"rebuilt").hexdigest(), "computed")
    assert containers.image_sha256(tmp_path / "absent.sif") == (None, "missing")


def test_current_reads_apptainer_environment(tmp_path: Path, monkeypatch) -> None:
    image = tmp_path / "sam.sif"
    image.write_bytes(b"x")
    monkeypatch.setenv("APPTAINER_CONTAINER", str(image))
    monkeypatch.setenv("SAMSEG_STACK", "sam")
    info = containers.current()
    assert info == {"image": str(image), "stack": "sam",
                    "sha256": hashlib.sha256(b"x").hexdigest(), "sha256_source": "computed"}
    monkeypatch.delenv("APPTAINER_CONTAINER")
    monkeypatch.delenv("SINGULARITY_CONTAINER", raising=False)
    assert containers.current() is None


HARNESS = {"hydra-core", "omegaconf", "numpy", "pandas", "scipy", "nibabel", "pillow", "pyyaml",
           "torch"}  # what `python -m benchmarks.cli` imports in every stage
STAGE_EXTRAS = {"sam": {"tqdm", "sam2", "segment-anything"},  # train loop progress bar
                "ultralytics": {"tqdm", "ultralytics"},
                "eval": {"surface-distance", "seaborn"}}  # metrics' lookup tables, report


@pytest.mark.parametrize("stack", sorted(STAGE_EXTRAS))
def test_stack_holds_what_the_harness_imports(stack: str) -> None:
    pins = containers.env_requirements(containers.ENVS_DIR / f"{stack}.yaml")
    assert HARNESS | STAGE_EXTRAS[stack] <= set(pins)
