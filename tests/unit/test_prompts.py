"""Prompt simulation: the (x, y) convention, jitter bounds, click placement, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import cli
from benchmarks.data import batches, prompts
from benchmarks.stages import cases


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


def test_box_is_scaled_to_the_resized_image_and_mirrored_with_it() -> None:
    proto = prompts.parse_protocol("box0")
    prompt = {"status": "ok", "box": [10, 20, 29, 39], "points": [], "point_labels": []}
    # image 100 rows x 200 columns -> 50 x 50: x scales by 0.25, y by 0.5
    got = batches.prompt_fields(prompt, proto, (100, 200), (50, 50))
    assert got["box"].tolist() == [2.5, 10.0, 7.25, 19.5]
    flipped = batches.prompt_fields(prompt, proto, (100, 200), (50, 50), flip=True)
    assert flipped["box"].tolist() == [41.75, 10.0, 46.5, 19.5]  # x -> 49 - x, corners swap
    empty = batches.prompt_fields({"status": "empty_mask", "box": None}, proto, (9, 9), (9, 9))
    assert torch.isnan(empty["box"]).all()
    assert batches.prompt_fields(prompt, None, (100, 200), (50, 50)) == {}
    with pytest.raises(prompts.PromptError, match="3D prompts"):
        batches.prompt_fields({"status": "ok", "slices": []}, proto, (9, 9), (9, 9))


def test_clicks_are_padded_with_label_minus_one_and_batched() -> None:
    proto = prompts.parse_protocol("pos2neg1")
    prompt = {"status": "ok", "box": None, "points": [[4, 8], [6, 2]], "point_labels": [1, 0]}
    one = batches.prompt_fields(prompt, proto, (10, 10), (20, 20))
    assert one["points"].tolist() == [[8.0, 16.0], [12.0, 4.0], [0.0, 0.0]]
    assert one["point_labels"].tolist() == [1, 0, -1]
    item = {"image": torch.zeros(3, 20, 20), "mask": torch.zeros(1, 20, 20), "meta": {}} | one
    batch = batches.collate([item, item])
    assert batch["points"].shape == (2, 3, 2) and batch["point_labels"].shape == (2, 3)


def test_run_data_hands_each_case_its_pinned_prompt(bus_root: Path, tmp_path: Path) -> None:
    from benchmarks.runs import config

    data = ["dataset=synthetic_bus", "dataset_id=synthetic_bus", f"dataset.root={bus_root}",
            "dataset.n_folds=2"]
    split, out = tmp_path / "split.json", tmp_path / "box0.json"
    assert cli.main(["split", "--out", str(split), *data]) == 0
    assert cli.main(["prompts", "--split", str(split), "--protocol", "box0", "--out", str(out),
                     *data]) == 0
    run = ["method=resnet_seg", f"split_file='{split}'", *data]
    cfg = config.compose_run([*run, "prompt=box0", f"prompts_file='{out}'"])
    rundata = cases.open_run(cfg)
    doc, sha = prompts.read_prompts(out)
    case_id = next(c for c, p in doc["cases"].items() if p["status"] == "ok")
    sample = rundata.load(case_id)
    batch = batches.original_batch(sample, rundata.prompt(case_id), rundata.protocol)
    assert batch["box"][0].tolist() == prompts.box_from_mask(sample.mask)  # box0: the tight box
    assert rundata.prompts_sha256 == sha
    assert "box" not in batches.original_batch(sample)  # unprompted runs get no prompt fields
    wrong = config.compose_run([*run, "prompt=box", f"prompts_file='{out}'"])
    with pytest.raises(prompts.PromptError, match="holds protocol box0, the run asks for box"):
        cases.open_run(wrong)


@pytest.mark.parametrize("box, problem", [
    ([30, 10, 5, 40], "is inverted (x1 < x0 or y1 < y0)"),
    ([0, 0, 5000, 20], "lies outside the"),
], ids=["inverted", "outside"])
def test_a_bad_box_in_the_prompts_file_is_that_cases_bad_input(
        bus_root: Path, tmp_path: Path, box: list[int], problem: str) -> None:
    """Issue 19 item 5: boxes outside the image or inverted were used as given, every case ok."""
    import json

    import pandas as pd

    data = ["dataset=synthetic_bus", "dataset_id=synthetic_bus", f"dataset.root={bus_root}",
            "dataset.n_folds=2"]
    split, out = tmp_path / "split.json", tmp_path / "box.json"
    assert cli.main(["split", "--out", str(split), *data]) == 0
    assert cli.main(["prompts", "--split", str(split), "--protocol", "box", "--out", str(out),
                     *data]) == 0
    doc = json.loads(out.read_text())
    bad = next(c for c, p in sorted(doc["cases"].items()) if p["status"] == "ok"
               and c in cases.open_run(_cfg(data, split, out)).case_ids(0, "test"))
    doc["cases"][bad]["box"] = box
    out.write_text(json.dumps(doc))
    method = ["method=sam_zeroshot", "method.backbone=tiny", "method.variant=tiny",
              "method.image_size=64", "prompt=box", f"prompts_file='{out}'"]
    train, pred = tmp_path / "train", tmp_path / "predict"
    common = ["--split", str(split), *data, *method]
    assert cli.main(["train", "--out", str(train), *common]) == 0
    assert cli.main(["predict", "--model", str(train / "model.pt"), "--out", str(pred),
                     *common]) == 0
    table = pd.read_csv(pred / "cases.csv").set_index("case_id")
    assert table.loc[bad, "status"] == "bad_input"
    assert f"case {bad}: box {box} {problem}" in table.loc[bad, "message"]
    assert set(table.drop(index=bad)["status"]) == {"ok"}


def _cfg(data: list[str], split: Path, out: Path):
    from benchmarks.runs import config

    return config.compose_run(["method=resnet_seg", f"split_file='{split}'", *data, "prompt=box",
                               f"prompts_file='{out}'"])
