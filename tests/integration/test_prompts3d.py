"""Per-slice boxes of a 3D prompts file reach a slice-wise zero-shot method, scored in 3D.

Zero-shot SAM (tiny, random init) on the synthetic CT set with protocol ``box0_allslices``: every
slice with reference foreground gets its pinned tight box in ``batch["box"]`` (so the known answer
is the slice's own mask box), the other slices get NaN and are predicted empty, and the rows carry
the protocol name and which slices were prompted.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.core import registry
from benchmarks.data import prompts, splits
from benchmarks.runs import config, grid
from benchmarks.stages import cases, evaluate, predict, train

BASE = ["dataset=synthetic_ct", "dataset_id=synthetic_ct", "dataset.n_folds=3"]


@pytest.fixture(scope="module")
def sam_cell(ct_root: Path, tmp_path_factory: pytest.TempPathFactory):
    base = [*BASE, f"dataset.root={ct_root}"]
    tmp = tmp_path_factory.mktemp("prompts3d")
    loader, dcfg = config.dataset_config(config.compose_run(base, with_method=False))
    splits.write_for(loader, dcfg, "synthetic_ct", tmp / "split.json")
    prompts.write_for(loader, dcfg, tmp / "split.json", "box0_allslices", 0, tmp / "prompts.json")
    cfg = config.compose_run([*base, "method=sam_zeroshot", "method.backbone=tiny",
                              "method.variant=tiny", "method.image_size=64",
                              f"split_file={tmp / 'split.json'}", "prompt=box0_allslices",
                              f"prompts_file={tmp / 'prompts.json'}"])
    seen: dict[tuple[str, int], list[float]] = {}
    module = registry.import_method("sam_zeroshot")
    original = module.predict

    def recording(model, batch, mcfg):  # what the method receives, slice by slice
        meta = batch["meta"][0]
        seen[meta["case_id"], meta["slice_index"]] = batch["box"][0].tolist()
        return original(model, batch, mcfg)

    module.predict = recording
    try:
        info = train.run(cfg, tmp)
        predict.run(cfg, tmp / "model.pt", tmp)
    finally:
        module.predict = original
    evaluate.run(cfg, tmp, info, tmp / "metrics.csv")
    return cfg, tmp, seen


def test_each_slice_gets_its_pinned_box_and_unprompted_slices_none(sam_cell) -> None:
    cfg, tmp, seen = sam_cell
    data = cases.open_run(cfg)
    doc, _ = prompts.read_prompts(tmp / "prompts.json")
    for case_id in data.case_ids(0, "test"):
        mask = data.load(case_id).mask
        pinned = {s["slice"]: s["box"] for s in doc["cases"][case_id]["slices"]}
        assert sorted(pinned) == [z for z in range(mask.shape[2]) if mask[:, :, z].any()]
        z = sorted(pinned)[len(pinned) // 2]  # a known slice: its tight box from the mask itself
        rows, cols = np.nonzero(mask[:, :, z])
        expected = [cols.min(), rows.min(), cols.max(), rows.max()]
        assert seen[case_id, z] == pinned[z] == expected
        for z in range(mask.shape[2]):
            if z in pinned:
                assert seen[case_id, z] == pinned[z]
            else:
                assert all(math.isnan(v) for v in seen[case_id, z])
        pred = evaluate.read_predictions(tmp / "predictions.npz")[case_id]
        assert pred.shape == mask.shape
        assert not pred[:, :, [z for z in range(mask.shape[2]) if z not in pinned]].any()


def test_rows_carry_the_protocol_and_the_prompted_slices_and_are_scored_in_mm(sam_cell) -> None:
    _, tmp, _ = sam_cell
    rows = evaluate.read_table(tmp / "metrics.csv")
    assert (rows["prompt"] == "box0_allslices").all() and (rows["status"] == "ok").all()
    assert (rows["distance_unit"] == "mm").all() and (rows["training"] == "zero_shot").all()
    assert rows["message"].str.fullmatch(
        r"box0_allslices: \d+ of 20 slices prompted \(\d+-\d+\); the other slices hold no "
        r"reference foreground and get no prompt \(NaN box, no clicks\)").all()


def test_grid_names_the_prompted_slices_on_3d_data() -> None:
    cfg = {"datasets": {"synthetic_ct": {"generate": "ct"}, "synthetic_bus": {"generate": "bus"}},
           "methods": {"sam_zeroshot": {"backbones": ["tiny"]}},
           "prompts": ["box", "box_allslices"]}
    runs, skipped = grid.expand(cfg)
    assert [(r.dataset, r.prompt) for r in runs] == [("synthetic_bus", "box"),
                                                     ("synthetic_ct", "box_allslices")]
    assert dict(((r.dataset, r.prompt), why) for r, why in skipped) == {
        ("synthetic_bus", "box_allslices"): "prompt box_allslices prompts slices of volumes; "
                                            "2d data has none",
        ("synthetic_ct", "box"): "prompt box names no prompted slices; on 3d data use "
                                 "box_allslices"}
    run = grid.parse_path("x/dataset=a/method=b/backbone=c/prompt=box_allslices/fold=0/seed=1")
    assert run.prompt == "box_allslices"


def test_a_2d_protocol_on_a_volume_set_is_refused(ct_root: Path, tmp_path: Path) -> None:
    base = [*BASE, f"dataset.root={ct_root}"]
    loader, dcfg = config.dataset_config(config.compose_run(base, with_method=False))
    splits.write_for(loader, dcfg, "synthetic_ct", tmp_path / "split.json")
    with pytest.raises(prompts.PromptError, match="synthetic_ct: prompt box names no prompted"):
        prompts.write_for(loader, dcfg, tmp_path / "split.json", "box", 0, tmp_path / "p.json")
    assert prompts.parse_protocol("pos1neg2_allslices") == prompts.Protocol(
        "pos1neg2_allslices", box=False, n_pos=1, n_neg=2, slices="allslices")
    with pytest.raises(prompts.PromptError, match="unknown prompt protocol 'box_some'"):
        prompts.parse_protocol("box_some")
