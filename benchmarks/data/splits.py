"""Patient-level k-fold splits, written once per dataset and identified by their sha256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.core.io import write_text
from benchmarks.data.base import SKIP_KEY, CaseRef


class SplitError(ValueError):
    """A split that cannot be made or does not match the data."""


def assign_folds(cases: list[CaseRef], n_folds: int, seed: int) -> dict[str, int]:
    """Fold per case: patients are shuffled with ``seed`` and dealt round-robin to folds.

    All cases of one patient land in one fold, so no patient is in two folds.
    """
    patients = sorted({c.patient_id for c in cases})
    if len(patients) < n_folds:
        raise SplitError(f"{len(patients)} patients cannot fill {n_folds} folds; lower n_folds")
    order = np.random.default_rng(seed).permutation(len(patients))
    fold_of = {patients[j]: i % n_folds for i, j in enumerate(order)}
    return {c.case_id: fold_of[c.patient_id] for c in cases}


def check_patient_folds(cases: list[CaseRef], folds: dict[str, int], n_folds: int) -> None:
    """Raise :class:`SplitError` when a patient spans two folds or a fold is out of range."""
    seen: dict[str, int] = {}
    for case in cases:
        fold = folds.get(case.case_id)
        if fold is None or not 0 <= fold < n_folds:
            raise SplitError(f"case {case.case_id}: fold {fold} outside 0..{n_folds - 1}")
        if seen.setdefault(case.patient_id, fold) != fold:
            raise SplitError(f"patient {case.patient_id} is in folds {seen[case.patient_id]} and "
                             f"{fold} (case {case.case_id}); a patient must stay in one fold")


EXTERNAL = "external_test"  # the scheme of an external test set (config.yaml train_from)


def external_split(dataset_id: str, kept: list[CaseRef], train_from: str) -> dict[str, Any]:
    """An external test set's split: no training part, every case is test for every fold of the
    ``train_from`` dataset, whose models it uses (so nothing trains on these cases)."""
    if not kept:
        raise SplitError(f"{dataset_id}: no usable cases for an external test set")
    return {"dataset_id": dataset_id, "scheme": EXTERNAL, "train_from": train_from,
            "n_folds": 1, "seed": 0,
            "cases": {c.case_id: {"fold": "test", "patient": c.patient_id, "subset": c.subset}
                      for c in kept}}


def make_split(dataset_id: str, cases: list[CaseRef], n_folds: int, seed: int,
               scheme: str = "kfold", folds: dict[str, int] | None = None,
               train_from: str = "") -> dict[str, Any]:
    """The split document; ``folds`` overrides the seeded assignment (official schemes);
    ``train_from`` makes it an external test set (:func:`external_split`).

    Cases whose ``extra`` carries a skip reason (a loader policy such as BUS-UCLM's
    ``on_size_mismatch=skip``) are kept out of every fold and listed under ``skipped``.
    """
    kept = [c for c in cases if SKIP_KEY not in c.extra]
    if train_from:
        split = external_split(dataset_id, kept, train_from)
        return split | _skipped(cases)
    folds = folds if folds is not None else assign_folds(kept, n_folds, seed)
    check_patient_folds(kept, folds, n_folds)
    split = {
        "dataset_id": dataset_id,
        "scheme": scheme,
        "n_folds": n_folds,
        "seed": seed,
        "cases": {c.case_id: {"fold": folds[c.case_id], "patient": c.patient_id,
                              "subset": c.subset} for c in kept},
    }
    return split | _skipped(cases)


def _skipped(cases: list[CaseRef]) -> dict[str, Any]:
    """``{"skipped": ...}`` only when a case is skipped, so that splits without skips keep their
    bytes (and sha256)."""
    skipped = {c.case_id: {"patient": c.patient_id, "reason": c.extra[SKIP_KEY]}
               for c in cases if SKIP_KEY in c.extra}
    return {"skipped": skipped} if skipped else {}


def write_split(path: str | Path, split: dict[str, Any]) -> str:
    """Write the split as canonical JSON; return its sha256."""
    text = json.dumps(split, indent=1, sort_keys=True) + "\n"
    write_text(path, text)
    return hashlib.sha256(text.encode()).hexdigest()


def read_split(path: str | Path) -> tuple[dict[str, Any], str]:
    """The split document and the sha256 of its file."""
    path = Path(path)
    if not path.exists():
        raise SplitError(f"{path}: split file not found; run `cli split` for this dataset first")
    raw = path.read_bytes()
    return json.loads(raw), hashlib.sha256(raw).hexdigest()


PARTS = ("test", "train", "train_half0", "train_half1")


def select(split: dict[str, Any], fold: int, part: str) -> list[str]:
    """Case ids of the ``"test"`` fold, of the ``"train"`` folds (all others), or of one half of
    those (``"train_half0"``, ``"train_half1"``: :func:`training_half`), sorted.

    An external test set has no training part: every case is test, whatever the fold (the fold
    picks the ``train_from`` dataset's model)."""
    if part not in PARTS:
        raise SplitError(f"part {part!r}: use one of {PARTS}")
    if split.get("scheme") == EXTERNAL:
        return sorted(split["cases"]) if part == "test" else []
    if not 0 <= fold < split["n_folds"]:
        raise SplitError(f"fold={fold} outside 0..{split['n_folds'] - 1} of {split['dataset_id']}")
    in_fold = {cid for cid, c in split["cases"].items() if c["fold"] == fold}
    if part == "test":
        return sorted(in_fold)
    train = sorted(set(split["cases"]) - in_fold)
    return train if part == "train" else training_half(split, train, int(part[-1]))


def training_half(split: dict[str, Any], train: list[str], half: int) -> list[str]:
    """One of two patient-disjoint halves of a fold's training cases, for out-of-fold predictions
    of an earlier phase (a model trained on one half predicts the other). Patients are shuffled
    with the split's seed and dealt alternately, so every case of a patient is in one half."""
    patients = sorted({split["cases"][cid]["patient"] for cid in train})
    if len(patients) < 2:
        raise SplitError(f"{len(patients)} training patient(s) cannot be split into two halves "
                         "for out-of-fold predictions; add training data")
    order = np.random.default_rng(split["seed"]).permutation(len(patients))
    chosen = {patients[j] for i, j in enumerate(order) if i % 2 == half}
    return [cid for cid in train if split["cases"][cid]["patient"] in chosen]


def scheme_folds(loader: Any, dcfg: Any, cases: list[CaseRef]) -> dict[str, int] | None:
    """The loader's folds for a non-``kfold`` scheme (``None`` for the seeded k-fold)."""
    if dcfg.fold_scheme == "kfold":
        return None
    custom = getattr(loader, "official_folds", None)
    if custom is None:
        raise SplitError(f"dataset.fold_scheme={dcfg.fold_scheme!r}: {loader.__name__} defines "
                         "no official folds; use dataset.fold_scheme=kfold")
    return custom([c for c in cases if SKIP_KEY not in c.extra], dcfg)


def write_for(loader: Any, dcfg: Any, dataset_id: str, out: Path, train_from: str = "") -> str:
    """List a dataset (its loader module and Config), split it, write ``out``; return the sha256.

    Takes the loader rather than a composed config so that this layer stays below
    :mod:`benchmarks.runs.config` (``config.dataset_config(cfg)`` gives both).
    """
    cases = loader.list_cases(dcfg)
    if train_from:  # no folds of its own: an official scheme's fold file is not even read
        return write_split(out, make_split(dataset_id, cases, 0, 0, train_from=train_from))
    folds = scheme_folds(loader, dcfg, cases)
    split = make_split(dataset_id, cases, dcfg.n_folds, dcfg.split_seed, dcfg.fold_scheme, folds)
    return write_split(out, split)
