"""Prompt simulation: the (x, y) convention, jitter bounds, click placement, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import cli, prompts


def _asymmetric_mask() -> np.ndarray:
    """50 rows x 100 columns; lesion rows 10..19, columns 40..79 (wide, not tall)."""
    mask = np.zeros((50, 100), bool)
    mask[10:20, 40:80] = True
    return mask


def test_box_and_clicks_are_x_then_y() -> None:
    # Medical SAM2's 2D loader returned (row, col); ours is (x=col, y=row): pinned here
    assert prompts.box_from_mask(_asymmetric_mask()) == [40, 10, 79, 19]
    single = np.zeros((50, 100), bool)
    single[3, 70] = True  # row 3, column 70
    points, labels = prompts.sample_clicks(single, 1, 0, np.random.default_rng(0))
    assert (points, labels) == ([[70, 3]], [1])
    doc = prompts.image_prompts(single, prompts.parse_protocol("box0"), np.random.default_rng(0))
    assert doc["box"] == [70, 3, 70, 3]


def test_jitter_stays_within_0_to_20_px_and_the_image() -> None:
    mask = np.zeros((60, 100), bool)
    mask[5:40, 30:90] = True  # near the top and right borders: clipping is exercised
    tight = prompts.box_from_mask(mask)
    shifts = []
    for seed in range(200):
        box = prompts.jitter_box(tight, mask.shape, 20, np.random.default_rng(seed))
        grow = [tight[0] - box[0], tight[1] - box[1], box[2] - tight[2], box[3] - tight[3]]
        assert all(0 <= g <= 20 for g in grow)
        assert box[0] >= 0 and box[1] >= 0 and box[2] <= 99 and box[3] <= 59
        shifts.append(grow)
    shifts = np.array(shifts)
    assert shifts[:, 0].max() == 20 and shifts[:, 0].min() == 0  # the full range is drawn
    assert shifts[:, 1].max() == 5 and shifts[:, 2].max() == 10  # clipped at the borders
    assert prompts.parse_protocol("box") == prompts.Protocol("box", box=True, jitter_px=20)


def test_clicks_inside_and_outside() -> None:
    mask = _asymmetric_mask()
    proto = prompts.parse_protocol("pos5neg3")
    doc = prompts.image_prompts(mask, proto, np.random.default_rng(1))
    assert doc["box"] is None and doc["point_labels"] == [1] * 5 + [0] * 3
    for (x, y), label in zip(doc["points"], doc["point_labels"], strict=True):
        assert mask[y, x] == bool(label)
    assert len({tuple(p) for p in doc["points"]}) == 8  # drawn without replacement


def test_empty_mask_and_unknown_protocol() -> None:
    empty = np.zeros((10, 10), bool)
    doc = prompts.image_prompts(empty, prompts.parse_protocol("box"), np.random.default_rng(0))
    assert doc == {"status": "empty_mask", "box": None, "points": [], "point_labels": []}
    with pytest.raises(prompts.PromptError, match="unknown prompt protocol 'clicks'"):
        prompts.parse_protocol("clicks")


def test_3d_per_slice_boxes() -> None:
    mask = np.zeros((30, 40, 6), bool)  # [X, Y, Z]
    mask[5:10, 20:35, 2] = True
    mask[6:12, 22:30, 3] = True
    doc = prompts.volume_prompts(mask, prompts.parse_protocol("box0"), np.random.default_rng(0))
    assert [s["slice"] for s in doc["slices"]] == [2, 3]
    assert doc["slices"][0]["box"] == [20, 5, 34, 9]  # x = array axis 1, y = array axis 0
    clicks = prompts.volume_prompts(mask, prompts.parse_protocol("pos2neg1"),
                                    np.random.default_rng(0))
    for (x, y, z), label in zip(clicks["points"], clicks["point_labels"], strict=True):
        assert mask[y, x, z] == bool(label)


def test_prompts_file_is_deterministic_and_tied_to_the_split(bus_root: Path,
                                                             tmp_path: Path) -> None:
    data = ["dataset=synthetic_bus", "dataset_id=synthetic_bus", f"dataset.root={bus_root}",
            "dataset.n_folds=2"]
    split = tmp_path / "split.json"
    assert cli.main(["split", "--out", str(split), *data]) == 0
    outs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        out = tmp_path / f"{name}.json"
        args = ["prompts", "--split", str(split), "--protocol", "box", "--seed", str(seed)]
        assert cli.main([*args, "--out", str(out), *data]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] != outs[2]
    doc, _ = prompts.read_prompts(tmp_path / "a.json")
    assert len(doc["cases"]) == 12 and doc["protocol"]["jitter_px"] == 20
    assert sum(c["status"] == "empty_mask" for c in doc["cases"].values()) == 2  # normal images
    with pytest.raises(prompts.PromptError, match="regenerate the prompts"):
        prompts.read_prompts(tmp_path / "a.json", split_sha256="0" * 64)
    # a case's prompt depends on (seed, case) only, not on which other cases are listed
    assert prompts.case_rng(0, "x").integers(1 << 30) == prompts.case_rng(0, "x").integers(1 << 30)
