"""The interactive loop (benchmarks/stages/interactive.py) and its predict/evaluate files.

With a test double for the model (preset probabilities, call by call), every click the loop logs
equals the anchor's click rule (the transcription in test_clicks_conformance.py) applied to the
loop's own previous-round mask, on a 2D image and on a small volume; the double also sees the
batch the contract promises (box unchanged, every click so far, its own previous probabilities).
End to end (tiny SAM on the synthetic set): predict writes every round and click, evaluate scores
them, and the AUC columns equal the anchor's formula on the per-round columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks.data import prompts
from benchmarks.data.base import Sample
from benchmarks.runs import config
from benchmarks.stages import evaluate, interactive, predict, train
from tests.conftest import run_overrides
from tests.unit.test_clicks_conformance import _blob, _rounds, anchor_auc, anchor_click

pytest.importorskip("cc3d")


class Preset:
    """A method module whose decode returns preset probabilities, one per call (per slice in
    3D: the slice of the preset volume of the current round), recording what it was given."""

    def __init__(self, presets: list[np.ndarray], first_round_calls: int = 1) -> None:
        self.presets, self.first = presets, first_round_calls
        self.encodes, self.calls = 0, []

    def encode(self, model, batch, cfg):
        self.encodes += 1
        return batch["meta"][0]["slice_index"]

    def decode(self, model, features, batch, cfg):
        self.calls.append({k: batch[k].clone() for k in ("box", "points", "point_labels",
                                                         "previous") if k in batch})
        rnd = max(0, len(self.calls) - self.first)
        prob = self.presets[min(rnd, len(self.presets) - 1)]
        if prob.ndim == 3:
            prob = prob[:, :, features]
        return torch.from_numpy(prob.astype(np.float32))[None, None]


def _anchor_check(masks: list[np.ndarray], logs: list[dict], ref: np.ndarray) -> int:
    """Every logged click equals the anchor's click on the mask of the round before; returns
    how many clicks were placed."""
    placed = 0
    for rnd in range(1, len(masks)):
        theirs, log = anchor_click(masks[rnd - 1], ref), logs[rnd]
        if theirs is None:
            assert log["click_label"] is None
            assert np.array_equal(masks[rnd], masks[rnd - 1])  # no error: the mask is kept
            continue
        index, label = theirs
        point = [index[1], index[0], *index[2:]]
        ours = [log["click_x"], log["click_y"]] + ([log["click_z"]] if len(index) > 2 else [])
        assert ours == point and log["click_label"] == (1 if label == "fg" else 0)
        placed += 1
    return placed


@pytest.mark.parametrize("seed", range(3))
def test_2d_loop_clicks_follow_the_anchor_and_the_batch_carries_everything(seed: int) -> None:
    ref = _blob((48, 56), 100 + seed)
    presets = [m.astype(np.float32) * 0.9 + 0.05 for m in _rounds(ref, seed)]
    double = Preset(presets)
    box = torch.tensor([[2.0, 3.0, 40.0, 30.0]])
    batch = {"image": torch.zeros(1, 3, 48, 56), "box": box,
             "meta": [{"case_id": "c", "slice_index": -1}]}
    masks, logs = interactive.image_rounds(double, None, None, batch, ref, 5, 0.5,
                                           predict.check_probabilities)
    placed = _anchor_check(masks, logs, ref)
    assert double.encodes == 1 and len(double.calls) == 1 + placed
    clicks_so_far = [[r["click_x"], r["click_y"]] for r in logs if r["click_label"] is not None]
    for k, call in enumerate(double.calls[1:], start=1):
        torch.testing.assert_close(call["box"], box)  # the box is unchanged every round
        assert call["points"][0].tolist() == clicks_so_far[:k]
        assert call["previous"].shape == (1, 1, 48, 56)
        # the previous probabilities are the double's own output of the call before
        assert np.allclose(call["previous"][0, 0].numpy(), presets[k - 1], atol=1e-6)


def test_3d_loop_clicks_follow_the_anchor_and_only_the_clicked_slice_moves() -> None:
    ref = _blob((20, 24, 16), 105)
    ref[:, :, :3] = False  # three slices without foreground: no box there
    presets = [m.astype(np.float32) for m in _rounds(ref, 5)]
    boxed = [z for z in range(16) if ref[:, :, z].any()]
    double = Preset(presets, first_round_calls=len(boxed))
    sample = Sample("v", np.zeros((20, 24, 16), np.float32), ref, (1.0, 1.0, 2.5), "", {})

    def slice_batch(s: Sample) -> dict:
        box = [0.0, 0.0, 5.0, 5.0] if s.meta["slice_index"] in boxed else [float("nan")] * 4
        return {"image": torch.zeros(1, 3, 20, 24), "box": torch.tensor([box]),
                "meta": [{"case_id": "v", "slice_index": s.meta["slice_index"]}]}

    masks, logs = interactive.volume_rounds(double, None, None, sample, slice_batch, 5, 0.5,
                                            predict.check_probabilities, (0.0, 1.0))
    placed = _anchor_check(masks, logs, ref)
    assert placed >= 2
    first = presets[0].copy()
    first[:, :, [z for z in range(16) if z not in boxed]] = 0  # unboxed slices stay empty
    assert np.array_equal(masks[0], first >= 0.5)
    for rnd in range(1, 6):
        if logs[rnd]["click_z"] is None:
            continue
        z = logs[rnd]["click_z"]
        others = [k for k in range(16) if k != z]
        assert np.array_equal(masks[rnd][:, :, others], masks[rnd - 1][:, :, others])
        assert np.array_equal(masks[rnd][:, :, z], presets[rnd][:, :, z] >= 0.5)


@pytest.fixture(scope="module")
def sam_rounds(bus_root: Path, bus_split: Path, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    tmp = tmp_path_factory.mktemp("interactive")
    cfg0 = config.compose_run(
        ["dataset=synthetic_bus", "dataset_id=synthetic_bus", f"dataset.root={bus_root}",
         "dataset.n_folds=3"], with_method=False)
    prompts.write_for(*config.dataset_config(cfg0), bus_split, "boxclicks5", 0,
                      tmp / "prompts.json")
    cfg = config.compose_run(run_overrides("sam_zeroshot", bus_root, bus_split,
                                           "prompt=boxclicks5", f"prompts_file={tmp}/prompts.json"))
    info = train.run(cfg, tmp)
    predict.run(cfg, tmp / "model.pt", tmp)
    return tmp, evaluate.run(cfg, tmp, info, tmp / "metrics.csv")


def test_predict_and_evaluate_write_every_round(sam_rounds) -> None:
    tmp, table = sam_rounds
    log = pd.read_csv(tmp / "clicks.csv")
    rounds = pd.read_csv(tmp / "rounds.csv")
    n_cases = len(table)
    assert len(log) == len(rounds) == 6 * n_cases
    assert set(rounds["round"]) == set(range(6))
    assert {"dice", "nsd", "nsd_cvpr25", "click_x", "click_label", "seconds"} <= set(rounds)
    ok = table[table["status"] == "ok"]
    for _, row in ok.iterrows():
        dice = [row[f"dice_r{k}"] for k in range(6)]
        assert row["dice_auc_clicks"] == pytest.approx(anchor_auc(dice), abs=1e-12)
        assert row["dice_final"] == pytest.approx(row["dice"])  # final round = predictions.npz
        assert row["dice_box"] == dice[0]
    assert (ok["click_rule"] == "cvpr25_iter_eval").all()
    clicked = log.dropna(subset=["click_label"])
    assert len(clicked) > 0 and (clicked["click_seed"] == 42).all()
    assert (clicked["round"] > 0).all() and (log.loc[log["round"] == 0, "n_encodes"] == 1).all()
