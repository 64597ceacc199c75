"""Shared fixtures: small synthetic datasets on disk, a split, and composed run configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import offline

offline.apply()  # tests run offline exactly as the CLI does

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


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
def bus_split(bus_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-fold patient-level split of ``bus_root``."""
    from benchmarks import config, splits

    cfg = config.compose_run(
        ["dataset=synthetic_bus", "dataset_id=synthetic_bus", f"dataset.root={bus_root}",
         "dataset.n_folds=3"], with_method=False)
    path = tmp_path_factory.mktemp("split") / "split.json"
    splits.write_for(*config.dataset_config(cfg), "synthetic_bus", path)
    return path


def run_overrides(method: str, bus_root: Path, bus_split: Path, *extra: str) -> list[str]:
    """Overrides of a tiny CPU run of ``method`` on the synthetic set."""
    return [f"method={method}", "dataset=synthetic_bus", "dataset_id=synthetic_bus",
            f"dataset.root={bus_root}", "dataset.n_folds=3", f"split_file={bus_split}",
            "method.variant=tiny", "method.image_size=64", "method.batch_size=2", *extra]
