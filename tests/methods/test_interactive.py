"""Interactive methods (card ``interactive: true``): the encoder runs once per image, never per
click, and the decoder uses the clicks and the previous mask it is given (tiny CPU variants).

A method that ignored its clicks or its previous mask would fail ``test_decode_uses_clicks_and
_previous``; one that re-encoded per round would fail the encoder counts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.core import registry
from benchmarks.data import batches, prompts, splits
from benchmarks.runs import config, grid
from benchmarks.stages import cases, interactive, predict
from tests.conftest import run_overrides

INTERACTIVE = [m for m in registry.list_methods() if registry.read_card(m).get("interactive")]
THRESHOLD = 0.5


def test_the_sam_family_rows_are_interactive() -> None:
    assert {"sam_zeroshot", "medsam_zeroshot", "sam2_zeroshot", "sma"} <= set(INTERACTIVE)


@pytest.fixture(scope="module")
def click_prompts(bus_root: Path, bus_split: Path, tmp_path_factory) -> Path:
    cfg = config.compose_run(
        ["dataset=synthetic_bus", "dataset_id=synthetic_bus", f"dataset.root={bus_root}",
         "dataset.n_folds=3"], with_method=False)
    path = tmp_path_factory.mktemp("prompts") / "boxclicks5.json"
    prompts.write_for(*config.dataset_config(cfg), bus_split, "boxclicks5", 0, path)
    return path


def _setup(method: str, bus_root: Path, bus_split: Path, click_prompts: Path):
    cfg = config.compose_run(run_overrides(method, bus_root, bus_split, "prompt=boxclicks5",
                                           f"prompts_file={click_prompts}"))
    data = cases.open_run(cfg)
    module = registry.import_method(method)
    mcfg = config.method_cfg(cfg)
    batches.seed_everything(0)
    return module, mcfg, module.build(mcfg, None).eval(), data


def _lesion_case(data: cases.RunData):
    for case_id in data.case_ids(0, "test"):
        sample = data.load(case_id)
        if sample.mask.any():
            return sample
    raise AssertionError("no lesion in the synthetic test fold")


class Counting:
    """Counts a method module's encode and decode calls (the module is left untouched)."""

    def __init__(self, module) -> None:
        self.module, self.encodes, self.decodes = module, 0, 0

    def encode(self, *args):
        self.encodes += 1
        return self.module.encode(*args)

    def decode(self, *args):
        self.decodes += 1
        return self.module.decode(*args)


@pytest.mark.parametrize("method", INTERACTIVE)
def test_encoder_runs_once_per_image(method: str, bus_root: Path, bus_split: Path,
                                     click_prompts: Path) -> None:
    module, mcfg, model, data = _setup(method, bus_root, bus_split, click_prompts)
    sample = _lesion_case(data)
    batch = interactive.batch_for(sample, data.sample_prompt(sample), data.protocol,
                                  torch.device("cpu"))
    counted = Counting(module)
    masks, logs = interactive.image_rounds(counted, model, mcfg, batch, sample.mask, 5,
                                           THRESHOLD, predict.check_probabilities)
    placed = sum(1 for r in logs if r["click_label"] in (0, 1))
    assert counted.encodes == 1 and sum(r["n_encodes"] for r in logs) == 1
    assert counted.decodes == 1 + placed and len(masks) == 6
    assert placed >= 1  # a random tiny model makes errors: the protocol did click


@pytest.mark.parametrize("method", INTERACTIVE)
def test_decode_uses_clicks_and_previous(method: str, bus_root: Path, bus_split: Path,
                                         click_prompts: Path) -> None:
    module, mcfg, model, data = _setup(method, bus_root, bus_split, click_prompts)
    sample = _lesion_case(data)
    batch = batches.original_batch(sample, data.sample_prompt(sample), data.protocol)
    height, width = sample.mask.shape
    ys, xs = np.nonzero(sample.mask)
    clicked = batch | {"points": torch.tensor([[[float(xs[0]), float(ys[0])]]]),
                       "point_labels": torch.tensor([[1]]),
                       "previous": torch.zeros(1, 1, height, width)}
    with torch.no_grad():
        features = module.encode(model, batch, mcfg)
        box_only = module.decode(model, features, batch, mcfg)
        with_click = module.decode(model, features, clicked, mcfg)
        other_previous = module.decode(model, features, clicked | {
            "previous": torch.ones(1, 1, height, width)}, mcfg)
        torch.testing.assert_close(box_only, module.predict(model, batch, mcfg))
    assert with_click.shape == box_only.shape == (1, 1, height, width)
    # exact inputs, exact outputs on the CPU: a method that ignored either would change nothing
    # (random-init tiny models move little: HF SamModel stays near p = 0.5)
    assert (with_click - box_only).abs().max() > 1e-6  # the click changed the mask
    assert (other_previous - with_click).abs().max() > 1e-6  # so did the previous mask


def test_encoder_runs_once_per_slice_in_3d(ct_root: Path, tmp_path: Path) -> None:
    base = ["dataset=synthetic_ct", "dataset_id=synthetic_ct", "dataset.n_folds=3",
            f"dataset.root={ct_root}"]
    loader, dcfg = config.dataset_config(config.compose_run(base, with_method=False))
    splits.write_for(loader, dcfg, "synthetic_ct", tmp_path / "split.json")
    prompts.write_for(loader, dcfg, tmp_path / "split.json", "boxclicks5_allslices", 0,
                      tmp_path / "prompts.json")
    cfg = config.compose_run([*base, "method=sam_zeroshot", "method.variant=tiny",
                              "method.image_size=64", f"split_file={tmp_path / 'split.json'}",
                              "prompt=boxclicks5_allslices",
                              f"prompts_file={tmp_path / 'prompts.json'}"])
    data = cases.open_run(cfg)
    module = registry.import_method("sam_zeroshot")
    mcfg = config.method_cfg(cfg)
    batches.seed_everything(0)
    model = module.build(mcfg, None).eval()
    counted = Counting(module)
    case_id = data.case_ids(0, "test")[0]
    masks, logs = interactive.predict_case(counted, model, mcfg, data, case_id,
                                           torch.device("cpu"), THRESHOLD,
                                           predict.check_probabilities)
    ref = data.load(case_id).mask
    boxed = int(ref.any(axis=(0, 1)).sum())  # slices with a box (reference foreground)
    placed = [r for r in logs if r["click_label"] in (0, 1)]
    assert placed and all(r["click_z"] is not None for r in placed)
    new_slices = {r["click_z"] for r in placed} - set(np.flatnonzero(ref.any(axis=(0, 1))))
    assert counted.encodes == boxed + len(new_slices)  # once per slice, never per click
    assert counted.decodes == boxed + len(placed)  # round 0 every boxed slice, then one per click
    assert len(masks) == 6 and all(m.shape == ref.shape for m in masks)


def test_grid_skips_methods_that_cannot_take_clicks() -> None:
    config_doc = {"datasets": {"synthetic_bus": {"loader": "synthetic_bus"}},
                  "methods": {"sam_zeroshot": {}}}
    ok = grid.Run("synthetic_bus", "sam_zeroshot", "vit_b", 0, 0, "boxclicks5")
    assert grid.skip_reason(config_doc, ok) is None
    card = {"prompt": "box", "dims": ["2d"]}  # a box method without `interactive: true`
    reason = grid.interactive_skip(card, ok, prompts.parse_protocol("boxclicks5"), "2d")
    assert "interactive: true" in reason
    assert grid.interactive_skip(card, ok, prompts.parse_protocol("box"), "2d") is None
