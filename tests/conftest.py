"""Shared fixtures: small synthetic datasets on disk, a split, and composed run configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.core import offline

offline.apply()  # tests run offline exactly as the CLI does

REPO = Path(__file__).resolve().parent.parent
# CI has the samples at ../shared/data; a git worktree elsewhere names them with SAMSEG_SHARED_DATA
SHARED_DATA = Path(os.environ.get("SAMSEG_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def bus_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 synthetic ultrasound cases (6 patients, 2 normal images)."""
    from benchmarks.data import synthetic

    root = tmp_path_factory.mktemp("synthetic_bus")
    synthetic.write_bus(root, n_cases=12, seed=0)
    return root


@pytest.fixture(scope="session")
def ct_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 synthetic CT-like volumes with anisotropic spacing."""
    from benchmarks.data import synthetic

    root = tmp_path_factory.mktemp("synthetic_ct")
    synthetic.write_ct(root, n_cases=3, seed=0)
    return root


@pytest.fixture(scope="session")
def ct_split(ct_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Overrides selecting the synthetic CT set (3 volumes, 3 folds) with a written split."""
    from benchmarks.data import splits
    from benchmarks.runs import config

    base = ["dataset=synthetic_ct", "dataset_id=synthetic_ct", f"dataset.root={ct_root}"]
    split = tmp_path_factory.mktemp("ct_split") / "split.json"
    splits.write_for(*config.dataset_config(config.compose_run(base, with_method=False)),
                     "synthetic_ct", split)
    return [*base, f"split_file={split}"]


@pytest.fixture(scope="session")
def bus_split(bus_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-fold patient-level split of ``bus_root``."""
    from benchmarks.data import splits
    from benchmarks.runs import config

    cfg = config.compose_run(
        ["dataset=synthetic_bus", "dataset_id=synthetic_bus", f"dataset.root={bus_root}",
         "dataset.n_folds=3"], with_method=False)
    path = tmp_path_factory.mktemp("split") / "split.json"
    splits.write_for(*config.dataset_config(cfg), "synthetic_bus", path)
    return path


@pytest.fixture(scope="session")
def bus_prompts(bus_root: Path, bus_split: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> dict[str, Path]:
    """Pinned prompts files of ``bus_split``, one per protocol kind (``box``, ``point``)."""
    from benchmarks.data import prompts
    from benchmarks.runs import config

    cfg = config.compose_run(
        ["dataset=synthetic_bus", "dataset_id=synthetic_bus", f"dataset.root={bus_root}",
         "dataset.n_folds=3"], with_method=False)
    out = {}
    for kind, protocol in PROTOCOL_OF_KIND.items():
        path = tmp_path_factory.mktemp("prompts") / f"{protocol}.json"
        prompts.write_for(*config.dataset_config(cfg), bus_split, protocol, 0, path)
        out[kind] = path
    return out


PROTOCOL_OF_KIND = {"box": "box", "point": "pos3neg1"}  # card `prompt:` -> a protocol to test with


def prompt_overrides(method: str, bus_prompts: dict[str, Path]) -> list[str]:
    """``prompt=...`` and ``prompts_file=...`` for a prompted method (nothing otherwise)."""
    from benchmarks.core import registry

    kind = registry.read_card(method).get("prompt", "none")
    if kind == "none":
        return []
    return [f"prompt={PROTOCOL_OF_KIND[kind]}", f"prompts_file={bus_prompts[kind]}"]


def run_overrides(method: str, bus_root: Path, bus_split: Path, *extra: str) -> list[str]:
    """Overrides of a tiny CPU run of ``method`` on the synthetic set (random init: a method whose
    default is a packaged pretrained file, LiteMedSAM, would not fit the tiny layout)."""
    return [f"method={method}", "dataset=synthetic_bus", "dataset_id=synthetic_bus",
            f"dataset.root={bus_root}", "dataset.n_folds=3", f"split_file={bus_split}",
            "method.variant=tiny", "method.image_size=64", "method.batch_size=2",
            "method.weights=null", *extra]
