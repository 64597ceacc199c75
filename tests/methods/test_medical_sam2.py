"""Medical SAM2 (2D) on the official sam2 model: clicks reach SAM2's prompt encoder in (x, y)
order, the bank's state rules hold on the model, the Part 3.3 parts train, SAM2.0 checkpoints
load strictly, and the tiny variant learns the synthetic set."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmarks.core import registry
from benchmarks.data import batches
from benchmarks.runs import config
from benchmarks.stages import cases, train
from methods import _sam2
from methods._api import WeightsError
from methods.medical_sam2 import method as msam2
from tests.conftest import prompt_overrides, run_overrides

SIZE = 64  # model input of the tiny CPU variant


def _cfg(**kw) -> msam2.Config:
    return msam2.Config(**{"variant": "tiny", "backbone": "hiera_t", "image_size": SIZE,
                           "batch_size": 2} | kw)


def _model(seed: int = 0, **kw) -> tuple[torch.nn.Module, msam2.Config]:
    cfg = _cfg(**kw)
    train.seed_everything(seed)
    return msam2.build(cfg, None), cfg


def _capture_prompts(model: torch.nn.Module) -> list:
    """Every ``points`` input SAM2's prompt encoder receives (coords in model-input pixels)."""
    seen: list = []

    def hook(_module, _args, kwargs):
        points = kwargs.get("points")
        seen.append(None if points is None else (points[0].clone(), points[1].clone()))

    model.sam_prompt_encoder.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


def _one(image_hw: tuple[int, int], click_xy: tuple[float, float], key: str = "a") -> dict:
    height, width = image_hw
    return {"image": torch.rand(1, 3, height, width),
            "points": torch.tensor([[click_xy]], dtype=torch.float32),
            "point_labels": torch.tensor([[1]]),
            "meta": [{"case_id": key, "slice_index": -1}]}


def test_click_lands_on_its_pixel_of_an_asymmetric_mask_in_the_prompt_encoder() -> None:
    model, cfg = _model()
    mask = np.zeros((48, 80), dtype=np.uint8)  # H != W, lesion only in the top-right corner
    mask[4:16, 56:76] = 1
    click = (60.0, 10.0)  # (x, y) = (column, row): inside the lesion; (row, col) is outside
    assert mask[int(click[1]), int(click[0])] == 1 and mask[int(click[0]) % 48, 10] == 0
    seen = _capture_prompts(model)
    with torch.no_grad():
        msam2.predict(model.eval(), _one(mask.shape, click), cfg)
    coords, labels = seen[0]
    assert labels.tolist() == [[1]]
    x, y = coords[0, 0].tolist()
    assert (x, y) == pytest.approx((60 * SIZE / 80, 10 * SIZE / 48))
    resized = F.interpolate(torch.from_numpy(mask)[None, None].float(), size=(SIZE, SIZE))[0, 0]
    assert resized[int(y), int(x)] == 1  # the click is on the lesion in the model's input
    assert resized[int(x), int(y)] == 0  # (row, col) read as (x, y) would miss it


def test_pinned_clicks_reach_sam2_unchanged_through_the_harness_batches(
        bus_root: Path, bus_split: Path, bus_prompts: dict) -> None:
    cfg = config.compose_run(run_overrides("medical_sam2", bus_root, bus_split,
                                           *prompt_overrides("medical_sam2", bus_prompts)))
    data, mcfg = cases.open_run(cfg), config.method_cfg(cfg)
    model = msam2.build(mcfg, None).eval()
    seen = _capture_prompts(model)
    hits = swapped_hits = n = 0
    for case_id in data.case_ids(0, "test"):
        sample = data.load(case_id)
        if not sample.mask.any():
            continue
        prompt = data.prompt(case_id)
        with torch.no_grad():
            msam2.predict(model, batches.original_batch(sample, prompt, data.protocol), mcfg)
        coords, labels = seen[-1]
        height, width = sample.mask.shape
        scale = torch.tensor([width / SIZE, height / SIZE])
        back = coords[0] * scale  # model-input pixels -> original pixels
        given = torch.tensor(prompt["points"], dtype=torch.float32)[:, :2]
        torch.testing.assert_close(back, given)  # same clicks, same order, (x, y)
        assert labels[0].tolist() == list(prompt["point_labels"])
        for (x, y), label in zip(given.round().long().tolist(), prompt["point_labels"],
                                 strict=True):
            if label == 1:
                n += 1
                hits += bool(sample.mask[y, x])
                swapped_hits += bool(y < width and x < height and sample.mask[x, y])
    assert n > 0 and hits == n and swapped_hits < n


def test_interactive_round_uses_box_clicks_and_previous() -> None:
    model, cfg = _model()
    model.eval()
    seen: list = []
    model.sam_prompt_encoder.register_forward_pre_hook(
        lambda _m, _a, kw: seen.append(kw), with_kwargs=True)
    batch = _one((40, 56), (30.0, 20.0)) | {"box": torch.tensor([[8.0, 4.0, 48.0, 36.0]])}
    batch["points"] = torch.tensor([[[30.0, 20.0], [10.0, 30.0], [0.0, 0.0]]])
    batch["point_labels"] = torch.tensor([[1, 0, -1]])
    previous = torch.zeros(1, 1, 40, 56)
    previous[..., 4:36, 8:48] = 0.9
    with torch.no_grad():
        enc = msam2.encode(model, batch, cfg)
        plain = msam2.decode(model, enc, batch, cfg)
        round_1 = msam2.decode(model, enc, batch | {"previous": previous}, cfg)
    coords, labels = seen[0]["points"]
    assert labels.tolist() == [[1, 0, 2, 3]]  # clicks (padding dropped), then the box corners
    torch.testing.assert_close(coords[0, 2:] * torch.tensor([56 / SIZE, 40 / SIZE]),
                               torch.tensor([[8.0, 4.0], [48.0, 36.0]]))
    assert seen[0]["masks"] is None
    mask_in = seen[1]["masks"]
    assert mask_in.shape == (1, 1, SIZE // 4, SIZE // 4) and float(mask_in.max()) > 2
    assert not torch.allclose(plain, round_1)  # the previous round's mask changes the answer


def test_prompt_every_five_prompts_one_batch_in_five() -> None:
    model, cfg = _model(prompt_every=5)
    seen = _capture_prompts(model)
    with torch.no_grad():
        for i in range(6):
            msam2.predict(model.eval(), _one((40, 40), (20.0, 20.0), key=f"c{i}"), cfg)
    assert [p is not None for p in seen] == [True, False, False, False, False, True]


def test_bank_fills_per_run_and_never_reaches_the_state_dict() -> None:
    model, cfg = _model(memory_bank_size=3)
    model.train()
    for step in range(3):  # 6 distinct training images: the bank fills to its size 3
        batch = {"image": torch.rand(2, 3, SIZE, SIZE),
                 "mask": (torch.rand(2, 1, SIZE, SIZE) > 0.5).to(torch.uint8),
                 "points": torch.tensor([[[10.0, 20.0]]] * 2), "point_labels": torch.ones(2, 1),
                 "meta": [{"case_id": f"t{2 * step + i}", "slice_index": -1} for i in range(2)]}
        batch["point_labels"] = batch["point_labels"].long()
        out = msam2.train_step(model, batch, cfg)
    assert out["bank_size"] == 3 and len(model.memory_bank.entries) == 3
    assert not any("bank" in k for k in model.state_dict())
    model.eval()
    one = _one((40, 56), (30.0, 20.0), key="test0")
    with torch.no_grad():
        first = msam2.predict(model, one, cfg)
        assert [e.key for e in model.memory_bank.entries] == [("test0", -1)]  # train bank gone
        again = msam2.decode(model, msam2.encode(model, one, cfg), one, cfg)
    torch.testing.assert_close(again, first)  # an image never reads its own entry
    assert len(model.memory_bank.entries) == 1  # ... which it replaced


def test_trained_parts_are_image_encoder_memory_attention_and_mask_decoder() -> None:
    model, cfg = _model()
    counts = train.freeze(model, cfg.frozen)
    assert 0 < counts["params_trainable"] < counts["params_total"]
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"image_encoder", "memory_attention", "sam_mask_decoder"}
    opt = train.make_optimizer(model, msam2, cfg)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train()
    for step in range(2):  # the second step reads the bank: memory attention gets gradients
        batch = {"image": torch.rand(2, 3, SIZE, SIZE),
                 "mask": (torch.rand(2, 1, SIZE, SIZE) > 0.7).to(torch.uint8),
                 "points": torch.tensor([[[30.0, 30.0]]] * 2),
                 "point_labels": torch.ones(2, 1, dtype=torch.long),
                 "meta": [{"case_id": f"s{2 * step + i}", "slice_index": -1} for i in range(2)]}
        opt.zero_grad()
        msam2.train_step(model, batch, cfg)["loss"].backward()
        opt.step()
    changed = {n.split(".")[0] for n, p in model.named_parameters()
               if not torch.equal(before[n], p)}
    assert changed == trainable


def test_sam2_0_checkpoint_loads_strictly_and_a_sam2_1_file_is_refused(tmp_path: Path) -> None:
    train.seed_everything(1)
    state = _sam2.build_model("hiera_t", SIZE, version="2").state_dict()
    path = tmp_path / "sam2_hiera_tiny.pt"
    torch.save({"model": state}, path)  # the official layout
    model = msam2.build(_cfg(), path)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    newer = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": _sam2.build_model("hiera_t", SIZE, version="2.1").state_dict()}, newer)
    with pytest.raises(WeightsError, match="does not fit"):
        msam2.build(_cfg(), newer)


def test_registry_names_the_sam2_0_file_of_every_backbone() -> None:
    card = registry.read_card("medical_sam2")
    by_backbone = {w["backbone"]: w for w in card["weights"].values()}
    assert set(by_backbone) == set(card["backbones"]) == set(_sam2.BACKBONES)
    for backbone, entry in by_backbone.items():
        assert "/072824/" in entry["url"] and entry["file"].startswith("sam2_hiera_"), backbone
        assert entry["url"].endswith(entry["file"])


@pytest.mark.slow  # 100 CPU training steps; not yet run to the end (see the issue 22 report)
def test_tiny_variant_learns_the_synthetic_training_images(
        bus_root: Path, bus_split: Path, bus_prompts: dict) -> None:
    """Trained on the synthetic set's fold-0 training images, the tiny model segments them far
    better than an all-empty prediction (Dice 0 on every image with a lesion)."""
    steps = 100
    cfg = config.compose_run(run_overrides(
        "medical_sam2", bus_root, bus_split, *prompt_overrides("medical_sam2", bus_prompts),
        f"method.max_steps={steps}", "method.lr=0.001", "method.min_lr=0.001",
        "method.batch_size=4"))
    data, mcfg = cases.open_run(cfg), config.method_cfg(cfg)
    ids = data.case_ids(0, "train")
    train.seed_everything(0)
    model = msam2.build(mcfg, None)
    train.freeze(model, mcfg.frozen)
    start = time.perf_counter()
    log = train.train_loop(model, msam2, mcfg,
                           train._batches(data, ids, mcfg, torch.Generator().manual_seed(0), 0),
                           torch.device("cpu"))
    seconds = time.perf_counter() - start
    model.eval()
    dice, start = [], time.perf_counter()
    for case_id in ids:
        sample = data.load(case_id)
        if not sample.mask.any():
            continue
        with torch.no_grad():
            prob = msam2.predict(model, batches.original_batch(sample, data.prompt(case_id),
                                                               data.protocol), mcfg)
        pred, ref = prob[0, 0].numpy() > 0.5, sample.mask.astype(bool)
        dice.append(2 * (pred & ref).sum() / (pred.sum() + ref.sum()))
    per_image = (time.perf_counter() - start) / len(dice)
    print(f"medical_sam2 tiny: {steps} steps in {seconds:.1f} s, predict {per_image:.3f} s per"
          f" image, loss {log['loss'].iloc[0]:.3f}"
          f" -> {log['loss'].iloc[-5:].mean():.3f}, training-image Dice {np.mean(dice):.3f}"
          f" over {len(dice)} lesion images (all-empty: 0.000)")
    assert log["bank_size"].iloc[-1] > 0
    assert np.mean(dice) > 0.5
