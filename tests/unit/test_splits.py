"""Patient-level splits: disjoint patients, seeded determinism, official BUS-BRA folds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks.data import splits
from benchmarks.data.base import CaseRef
from benchmarks.data.loaders import busbra
from benchmarks.runs import config
from tests.conftest import SHARED_DATA

SHARED = SHARED_DATA.resolve()
BUSBRA = SHARED / "busbra/BUSBRA"
needs_busbra = pytest.mark.skipif(not BUSBRA.is_dir(), reason=f"{BUSBRA} absent (real sample)")


def _cases(n_patients: int = 23) -> list[CaseRef]:
    """1 to 3 images per patient, like BUS-BRA's l/r/s views."""
    return [CaseRef(f"p{p:02d}_{v}", f"p{p:02d}", "", ()) for p in range(n_patients)
            for v in range(1 + p % 3)]


def _patient_folds(split: dict) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for case in split["cases"].values():
        out.setdefault(case["patient"], set()).add(case["fold"])
    return out


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_patient_in_two_folds(seed: int) -> None:
    split = splits.make_split("toy", _cases(), n_folds=5, seed=seed)
    assert all(len(folds) == 1 for folds in _patient_folds(split).values())
    assert {c["fold"] for c in split["cases"].values()} == set(range(5))
    for fold in range(5):
        test, train = splits.select(split, fold, "test"), splits.select(split, fold, "train")
        patients = {split["cases"][c]["patient"] for c in test}
        assert not patients & {split["cases"][c]["patient"] for c in train}
        assert len(test) + len(train) == len(split["cases"])


def test_deterministic_with_seed(tmp_path: Path) -> None:
    a = splits.write_split(tmp_path / "a.json", splits.make_split("toy", _cases(), 5, seed=3))
    b = splits.write_split(tmp_path / "b.json", splits.make_split("toy", _cases(), 5, seed=3))
    c = splits.write_split(tmp_path / "c.json", splits.make_split("toy", _cases(), 5, seed=4))
    assert a == b != c
    assert splits.read_split(tmp_path / "a.json")[1] == a


def test_given_folds_that_split_a_patient_are_refused() -> None:
    cases = _cases(6)
    folds = {c.case_id: i % 2 for i, c in enumerate(cases)}  # p02 has 3 views in folds 0, 1, 0
    with pytest.raises(splits.SplitError, match=r"patient p0\d is in folds"):
        splits.make_split("toy", cases, 2, 0, "official", folds)


@needs_busbra
@pytest.mark.parametrize("k", [5, 10])
def test_official_busbra_folds_follow_the_csv(k: int, tmp_path: Path) -> None:
    cfg = config.compose_run(["dataset=busbra", "dataset_id=busbra", f"dataset.root={BUSBRA}",
                              "dataset.fold_scheme=official", f"dataset.n_folds={k}"],
                             with_method=False)
    sha = splits.write_for(*config.dataset_config(cfg), "busbra", tmp_path / "split.json")
    split, read_sha = splits.read_split(tmp_path / "split.json")
    expected = pd.read_csv(BUSBRA / f"{k}-fold-cv.csv").set_index("ID")["kFold"] - 1
    assert sha == read_sha and split["scheme"] == "official" and len(split["cases"]) == 61
    assert {cid: c["fold"] for cid, c in split["cases"].items()} == expected.to_dict()
    assert all(len(f) == 1 for f in _patient_folds(split).values())
    assert split["cases"]["bus_0001-l"]["patient"] == "1"


@needs_busbra
def test_busbra_kfold_by_case_and_bad_official_k() -> None:
    cfg = busbra.Config(root=str(BUSBRA))
    split = splits.make_split("busbra", busbra.list_cases(cfg), 5, seed=0)
    assert len(_patient_folds(split)) == 35
    assert all(len(f) == 1 for f in _patient_folds(split).values())
    bad = busbra.Config(root=str(BUSBRA), fold_scheme="official", n_folds=3)
    with pytest.raises(ValueError, match=r"3-fold-cv\.csv: not found; .*n_folds=5 or 10"):
        splits.scheme_folds(busbra, bad, busbra.list_cases(bad))


def test_official_scheme_needs_a_loader_that_has_one() -> None:
    from benchmarks.data.loaders import synthetic_bus

    dcfg = synthetic_bus.Config(fold_scheme="official")
    with pytest.raises(splits.SplitError, match="defines no official folds"):
        splits.scheme_folds(synthetic_bus, dcfg, _cases())
