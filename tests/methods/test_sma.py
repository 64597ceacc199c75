"""SMA: transformers SamModel with frozen encoders, against SamModel + SamProcessor upstream."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.stages import train
from methods.sma import method as sma

TOL = 1e-5  # issue 10: max abs difference of probabilities at the original size


def _model(**overrides):
    cfg = sma.Config(variant="tiny", image_size=64, **overrides)
    torch.manual_seed(0)
    return sma.build(cfg, None), cfg


def _batch(height: int = 75, width: int = 100) -> tuple[np.ndarray, dict]:
    rgb = (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)
    mask = np.zeros((height, width), np.uint8)
    mask[20:60, 15:70] = 1
    image = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255)[None]
    return rgb, {"image": image, "mask": torch.from_numpy(mask)[None, None],
                 "box": torch.tensor([[12.0, 18.0, 72.0, 61.0]]), "meta": [{"case_id": "x"}]}


def test_predict_equals_sam_model_with_sam_processor() -> None:
    model, cfg = _model()
    model.eval()
    rgb, batch = _batch()
    with torch.no_grad():
        ours = sma.predict(model, batch, cfg)
        proc = sma.processor(cfg.image_size)  # SamProcessor as the hub's, at the tiny input size
        inputs = proc(images=rgb, input_boxes=[[batch["box"][0].tolist()]], return_tensors="pt")
        out = model(pixel_values=inputs["pixel_values"], input_boxes=inputs["input_boxes"],
                    multimask_output=False)
        masks = proc.image_processor.post_process_masks(
            out.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"],
            binarize=False)
    theirs = torch.sigmoid(masks[0])
    assert ours.shape == theirs.shape == (1, 1, 75, 100)
    assert float((ours - theirs).abs().max()) <= TOL
    assert float(theirs.std()) > 0


def test_one_training_step_changes_only_the_mask_decoder() -> None:
    model, cfg = _model()
    counts = train.freeze(model, cfg.frozen)
    decoder = sum(p.numel() for n, p in model.named_parameters() if n.startswith("mask_decoder."))
    assert counts["params_trainable"] == decoder
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = train.make_optimizer(model, sma, cfg)
    sma.train_step(model.train(), _batch()[1], cfg)["loss"].backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    assert changed and all(n.startswith("mask_decoder.") for n in changed)


def test_soft_dice_has_squared_denominators() -> None:
    logits = torch.zeros(1, 1, 4, 4)  # p = 0.5 everywhere
    target = torch.ones(1, 1, 4, 4)
    # 1 - 2 * 0.5 * 16 / (16 + 0.25 * 16) = 1 - 16 / 20
    assert float(sma.soft_dice_loss(logits, target, eps=0.0)) == pytest.approx(0.2)


def test_a_sample_without_box_is_left_out_of_the_loss() -> None:
    model, cfg = _model()
    _, one = _batch()
    two = {"image": one["image"].repeat(2, 1, 1, 1), "mask": one["mask"].repeat(2, 1, 1, 1),
           "box": torch.cat([one["box"], torch.full((1, 4), float("nan"))]), "meta": [{}, {}]}
    with torch.no_grad():
        alone = sma.train_step(model, one, cfg)["loss"]
        mixed = sma.train_step(model, two, cfg)["loss"]
        assert float(sma.predict(model.eval(), two, cfg)[1].max()) == 0.0
    assert float((alone - mixed).abs()) < 1e-6


def test_hub_layout_safetensors_loads_strictly(tmp_path) -> None:
    from safetensors.torch import save_file

    source, cfg = _model()
    state = {k: v.contiguous() for k, v in source.state_dict().items()
             if not k.startswith("prompt_encoder.shared_embedding.")}  # stored once, as the hub
    path = tmp_path / "sam-tiny.safetensors"
    save_file(state, str(path))
    torch.manual_seed(1)
    loaded = sma.build(cfg, path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in source.state_dict().items())
