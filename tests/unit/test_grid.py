"""config.yaml -> grid cells, skip reasons, id checks and per-cell overrides."""

from __future__ import annotations

import copy

import pytest

from benchmarks.runs import grid

CONFIG = {
    "paths": {"data_root": "."},
    "datasets": {"synthetic_bus": {"loader": "synthetic_bus", "root": "a=b"},
                 "synthetic_ct": {"loader": "synthetic_ct"}},
    "methods": {"resnet_seg": {"backbones": ["resnet18", "resnet50"]},
                "yolo_seg": {"backbones": ["n"], "overrides": ["method.max_epochs=1"]}},
    "folds": [0, 1],
    "seeds": [0],
}


def test_expand_runs_slice_wise_methods_on_3d_and_skips_2d_only_ones() -> None:
    runs, skipped = grid.expand(CONFIG)
    assert len(runs) == 2 * 3 * 2  # both datasets x (2 + 1 backbones) x 2 folds: volumes as slices
    assert skipped == []
    two_d_only = copy.deepcopy(CONFIG) | {"methods": {"esam2_bls": {}}}
    runs, skipped = grid.expand(two_d_only)
    assert {r.dataset for r in runs} == {"synthetic_bus"}
    assert {r.dataset for r, _ in skipped} == {"synthetic_ct"}
    assert all("slice-by-slice" in reason for _, reason in skipped)


def test_unknown_method_is_named() -> None:
    bad = copy.deepcopy(CONFIG)
    bad["methods"]["no_such_method"] = {}
    with pytest.raises(grid.GridError, match="no_such_method"):
        grid.expand(bad)


def test_unknown_backbone_names_card() -> None:
    bad = copy.deepcopy(CONFIG)
    bad["methods"]["yolo_seg"]["backbones"] = ["zz"]
    with pytest.raises(grid.GridError, match="zz.*card.yaml"):
        grid.expand(bad)


def test_unknown_loader_is_named() -> None:
    bad = copy.deepcopy(CONFIG)
    bad["datasets"]["x"] = {"loader": "nope"}
    with pytest.raises(grid.GridError, match="nope"):
        grid.expand(bad)


def test_path_round_trips() -> None:
    run = grid.Run("synthetic_bus", "yolo_seg", "n", 1, 3)
    assert grid.parse_path(f"results/runs/{run.path}/train/model.pt") == run


def test_overrides_quote_values_with_equals_and_keep_config_order() -> None:
    run = grid.Run("synthetic_bus", "yolo_seg", "n", 0, 0)
    items = grid.overrides_for(CONFIG, run)
    assert items[:4] == ["method=yolo_seg", "method.backbone=n", "fold=0", "seed=0"]
    assert "dataset.root='a=b'" in items
    assert items[-1] == "method.max_epochs=1"


def test_write_skipped_keeps_mtime_when_unchanged(tmp_path) -> None:
    _, skipped = grid.expand(CONFIG)
    path = tmp_path / "skipped.tsv"
    grid.write_skipped(skipped, path)
    first = path.stat().st_mtime_ns
    grid.write_skipped(skipped, path)
    assert path.stat().st_mtime_ns == first
    assert path.read_text().count("\n") == len(skipped) + 1


@pytest.fixture
def resnet_takes_boxes(monkeypatch: pytest.MonkeyPatch) -> None:
    """resnet_seg's card as if it said ``prompt: box`` (no prompted method exists yet)."""
    read_card = grid.registry.read_card

    def card(method_id: str) -> dict:
        out = dict(read_card(method_id))
        return out | {"prompt": "box"} if method_id == "resnet_seg" else out

    monkeypatch.setattr(grid.registry, "read_card", card)


def test_prompt_axis_applies_to_prompted_methods_only(resnet_takes_boxes) -> None:
    config = copy.deepcopy(CONFIG) | {"prompts": ["box", "box0", "box0_allslices", "pos1neg1"]}
    runs, skipped = grid.expand(config)
    resnet = {(r.dataset, r.prompt) for r in runs if r.method == "resnet_seg"}
    assert resnet == {("synthetic_bus", "box"), ("synthetic_bus", "box0"),
                      ("synthetic_ct", "box0_allslices")}  # 3D protocols name their slices
    assert {r.prompt for r in runs if r.method == "yolo_seg"} == {"none"}
    # 2D: resnet 2 backbones x 2 box protocols + yolo 1; 3D: resnet 2 x 1 + yolo 1; x 2 folds
    assert len(runs) == (2 * 2 + 1 + 2 * 1 + 1) * 2
    clicks = [reason for run, reason in skipped if run.prompt == "pos1neg1"
              and run.dataset == "synthetic_bus"]
    assert clicks == ["resnet_seg takes box prompts; pos1neg1 is a point protocol"] * 4


def test_prompted_cell_reads_its_pinned_prompts_file(resnet_takes_boxes) -> None:
    run = grid.Run("synthetic_bus", "resnet_seg", "resnet18", 1, 2, "box0")
    assert grid.parse_path(f"results/runs/{run.path}/predict/cases.csv") == run
    items = grid.overrides_for(CONFIG, run)
    assert "prompt=box0" in items
    assert ("prompts_file='results/prompts/dataset=synthetic_bus/protocol=box0/seed=2/"
            "prompts.json'") in items
    assert "prompt=none" in grid.overrides_for(CONFIG, grid.Run("synthetic_bus", "yolo_seg",
                                                                 "n", 0, 0))


def test_reordered_paths_keys_give_the_same_overrides() -> None:
    """Issue 19 (smaller): reordering keys under `paths:` replanned the whole grid (the params
    of every job are these overrides)."""
    from benchmarks.runs import throughput_plan

    one = copy.deepcopy(CONFIG) | {"paths": {"data_root": ".", "checkpoints": "ck"}}
    two = copy.deepcopy(CONFIG) | {"paths": {"checkpoints": "ck", "data_root": "."}}
    assert grid.dataset_overrides(one, "synthetic_bus") == \
        grid.dataset_overrides(two, "synthetic_bus")
    assert throughput_plan.overrides(one, "yolo_seg", "n", "64") == \
        throughput_plan.overrides(two, "yolo_seg", "n", "64")


def test_errors_name_the_configfile_the_grid_came_from() -> None:
    """Issue 19 (smaller): the messages said config.yaml when the grid came from --configfile."""
    bad = copy.deepcopy(CONFIG) | {"methods": {"no_such_method": {}}}
    with pytest.raises(grid.GridError, match=r"^/x/one\.yaml methods: unknown method"), \
            grid.named_source(["/x/one.yaml"]):
        grid.expand(bad)
    with pytest.raises(grid.GridError, match=r"^config\.yaml methods"), grid.named_source([]):
        grid.expand(bad)
