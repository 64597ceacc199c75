"""Stored predictions are validated on read (issue 9 item 4): a value that is not a binary mask of
the reference's shape is recorded as ``invalid_prediction`` with the worst scores, never scored as
``ok``; a truncated predictions file is an error naming it and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.core.io import write_table
from benchmarks.runs import config
from benchmarks.stages import cases, evaluate
from tests.conftest import run_overrides


def _cell(bus_root: Path, bus_split: Path) -> tuple[object, list[str], dict[str, tuple]]:
    cfg = config.compose_run(run_overrides("resnet_seg", bus_root, bus_split))
    data = cases.open_run(cfg)
    ids = data.case_ids(0, "test")
    return cfg, ids, {cid: data.load(cid).mask for cid in ids}


def _write(pred_dir: Path, masks: dict[str, np.ndarray]) -> None:
    pred_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(pred_dir / "predictions.npz", **masks)
    write_table(pred_dir / "cases.csv", pd.DataFrame(
        {"case_id": list(masks), "status": "ok", "message": "", "seconds": 0.1}))


def test_non_binary_predictions_are_invalid_not_scored(bus_root: Path, bus_split: Path,
                                                       tmp_path: Path) -> None:
    cfg, ids, refs = _cell(bus_root, bus_split)
    assert len(ids) >= 4
    a, b, c, d = ids[:4]
    stored = {a: np.full(refs[a].shape, np.nan, np.float32),        # all NaN (gave Dice 0.11)
              b: refs[b].astype(np.float32) * 0.3,                  # probabilities
              c: refs[c].astype(np.uint8) * 255,                    # a 0/255 image
              d: refs[d].astype(np.uint8)}                          # {0, 1}: a valid mask
    stored |= {cid: refs[cid] for cid in ids[4:]}                     # bool: the reference
    _write(tmp_path / "predict", stored)
    table = evaluate.run(cfg, tmp_path / "predict", {}, tmp_path / "metrics.csv")
    table = table.set_index("case_id")
    bad = [a, b, c]
    assert (table.loc[bad, "status"] == "invalid_prediction").all()
    assert (table.loc[bad, "dice"] == 0).all()
    assert "NaN" in table.loc[a, "message"] and "not in {0, 1}" in table.loc[b, "message"]
    assert table.loc[d, "status"] == "ok"
    assert table.loc[d, "dice"] == 1 or not refs[d].any()


@pytest.mark.parametrize("pred, word", [
    (np.zeros((4, 5), bool), "shape"), (np.array([["a"] * 4] * 4), "dtype"),
    (np.full((4, 4), np.inf), "infinite"), (np.full((4, 4), -1), "not in {0, 1}"),
])
def test_invalid_reason_names_the_problem(pred: np.ndarray, word: str) -> None:
    assert word in evaluate.invalid_reason(pred, (4, 4))
    assert evaluate.invalid_reason(np.ones((4, 4), np.int64), (4, 4)) is None


def test_truncated_predictions_file_is_named_with_the_fix(bus_root: Path, bus_split: Path,
                                                          tmp_path: Path) -> None:
    cfg, ids, refs = _cell(bus_root, bus_split)
    _write(tmp_path / "predict", refs)
    npz = tmp_path / "predict" / "predictions.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    with pytest.raises(evaluate.PredictionFileError,
                       match=rf"{npz}: cannot read the predictions .*delete it and rerun"):
        evaluate.run(cfg, tmp_path / "predict", {}, tmp_path / "metrics.csv")


def _npz_with_header(path: Path, header: bytes) -> None:
    """A zip whose one member has a valid CRC but a damaged .npy header (numpy parses the
    header before any checksum is checked: what random bytes inside a member give)."""
    import struct
    import zipfile

    header = header + b" " * (118 - len(header)) + b"\n"
    body = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x00" * 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.npy", body)


@pytest.mark.parametrize("header", [
    b"{'descr': '|b1', '''fortran_order': False, 'shape': (4, 4), }",  # tokenize.TokenError
    b"{'descr': '|b1', 'fortran_order': False, 'shape': (4, 4\n",
], ids=["unterminated_string", "unclosed_bracket"])
def test_damaged_bytes_inside_the_predictions_are_named_with_the_fix(tmp_path: Path,
                                                                     header: bytes) -> None:
    """Issue 19 item 9: a bare tokenize.TokenError traceback before."""
    npz = tmp_path / "predictions.npz"
    _npz_with_header(npz, header)
    with pytest.raises(evaluate.PredictionFileError,
                       match=rf"{npz}: cannot read the predictions \(TokenError.*delete it and"):
        evaluate.read_predictions(npz)


@pytest.mark.parametrize("text", ["", "case_id,seconds\nc0,1\n"], ids=["empty", "no_status"])
def test_an_empty_or_damaged_cases_file_is_named_with_the_fix(bus_root: Path, bus_split: Path,
                                                              tmp_path: Path, text: str) -> None:
    """Issue 19 item 9: an empty predict/cases.csv was a bare pandas EmptyDataError."""
    cfg, ids, refs = _cell(bus_root, bus_split)
    _write(tmp_path / "predict", refs)
    cases_csv = tmp_path / "predict" / "cases.csv"
    cases_csv.write_text(text)
    with pytest.raises(evaluate.PredictionFileError,
                       match=rf"{cases_csv}: cannot read the per-case statuses .*rerun the "
                             "predict stage"):
        evaluate.run(cfg, tmp_path / "predict", {}, tmp_path / "metrics.csv")
