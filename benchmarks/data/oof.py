"""Out-of-fold predictions of an earlier phase, for a later phase that trains on them
(UltraRefiner's Phase 2 refines real Phase-1 masks; methods-spec 6.5). No torch here.

Scheme (two halves, the cheap alternative to an inner k-fold): a fold's training cases are split
into two patient-disjoint halves (:func:`benchmarks.data.splits.training_half`); one model of the
earlier phase is trained on each half (``cli train --part train_half<h>``) and predicts the other
half (``cli predict --part train_half<1-h>``: a training part keeps the masks soft). Every
training case thus gets a soft mask from a model that never saw it. ``predict`` writes
``oof.json`` beside ``predictions.npz``: the model's sha256, the part it was trained on, the cases
it was trained on and the cases it predicted. :func:`load` refuses a file whose model trained on
a case it predicted, a file of another split, and a training case that no file covers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.core.io import write_json

OOF_FILE = "oof.json"  # beside predictions.npz of a `predict --part train_half<h>` run


class OOFError(ValueError):
    """Out-of-fold predictions that would leak a case into its own coarse mask, or miss one."""


def describe(model_sha256: str, train_part: str, trained_on: list[str], part: str,
             predicted: list[str], split_sha256: str) -> dict[str, Any]:
    """The ``oof.json`` record of one out-of-fold prediction run; refuses overlapping cases."""
    leaked = sorted(set(trained_on) & set(predicted))
    if leaked:
        raise OOFError(f"the model trained on part {train_part!r} would predict {len(leaked)} of "
                       f"its own training cases ({leaked[:5]}) as out-of-fold masks: predict the "
                       "other half (--part train_half<1-h> for a model of train_half<h>)")
    return {"model_sha256": model_sha256, "train_part": train_part, "part": part,
            "split_sha256": split_sha256, "trained_on": sorted(trained_on),
            "predicted": sorted(predicted)}


def write(out_dir: Path, record: dict[str, Any]) -> None:
    """Write ``oof.json`` into a predict output folder."""
    write_json(out_dir / OOF_FILE, record)


def _read(npz: Path, split_sha256: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The record and the soft masks of one out-of-fold predictions file, checked."""
    record_path = npz.with_name(OOF_FILE)
    if not record_path.exists():
        raise OOFError(f"{record_path} not found: {npz} is not an out-of-fold prediction; make "
                       "it with `cli predict --part train_half<h>`")
    record = json.loads(record_path.read_text())
    if record["split_sha256"] != split_sha256:
        raise OOFError(f"{record_path}: made on split {record['split_sha256'][:12]}, this run "
                       f"uses {split_sha256[:12]}: rerun the out-of-fold jobs")
    describe(record["model_sha256"], record["train_part"], record["trained_on"],
             record["part"], record["predicted"], split_sha256)  # re-check the overlap
    with np.load(npz) as arrays:
        masks = {cid: arrays[cid].astype(np.float32) for cid in arrays.files}
    stray = sorted(set(masks) - set(record["predicted"]))
    if stray:
        raise OOFError(f"{npz}: masks of {stray[:5]} that {record_path} does not list as predicted")
    return record, masks


def load(npz_paths: list[Path], train_ids: list[str], split_sha256: str
         ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Soft masks ``[H, W]`` in [0, 1] by case id for every training case, and their provenance.

    Raises:
        OOFError: a leak (a model predicting its own training case, or one case in two files),
            another split, or a training case without an out-of-fold mask.
    """
    masks: dict[str, np.ndarray] = {}
    sources = []
    for npz in map(Path, npz_paths):
        record, found = _read(npz, split_sha256)
        twice = sorted(set(found) & set(masks))
        if twice:
            raise OOFError(f"{npz}: cases {twice[:5]} already have an out-of-fold mask from "
                           "another file; give one file per training half")
        masks |= found
        sources.append({"file": str(npz), "model_sha256": record["model_sha256"],
                        "train_part": record["train_part"], "part": record["part"],
                        "n_cases": len(found)})
    missing = sorted(set(train_ids) - set(masks))
    if missing:
        raise OOFError(f"{len(missing)} training case(s) have no out-of-fold mask "
                       f"({missing[:5]}) in {[str(p) for p in npz_paths]}: give the predictions "
                       "of both halves, with every case predicted ok")
    return {cid: masks[cid] for cid in train_ids}, {"scheme": "halves", "sources": sources,
                                                    "n_cases": len(train_ids)}
