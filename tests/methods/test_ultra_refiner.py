"""UltraRefiner: TransUNet shapes (methods-spec 6.3 table), prompts with known answers, the
gradient path from the refined loss into TransUNet, per-checkpoint SAM input, phases."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from benchmarks.stages import train
from methods._sam1 import arch
from methods.ultra_refiner import corrupt, method, prompts
from methods.ultra_refiner.model import sam_pixels
from methods.ultra_refiner.transunet import TransUNet

TINY = method.Config(variant="tiny", image_size=64)


def _rect(height: int = 64, width: int = 64) -> torch.Tensor:
    """P = 1 on x 20..29, 0.6 on x 10..19, rows 10..19: known centroids and boxes."""
    prob = torch.zeros(1, height, width)
    prob[0, 10:20, 20:30] = 1.0
    prob[0, 10:20, 10:20] = 0.6
    return prob


def test_transunet_shapes_match_the_spec_table() -> None:
    net = TransUNet("base", 224).eval()
    backbone = net.encoder.patch_embed.backbone
    seen: list[tuple[int, ...]] = []
    watched = (backbone.stem.norm, *backbone.stages, net.conv_more, *net.blocks)
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape[1:])))
             for m in watched]
    with torch.no_grad():
        logits = net(torch.rand(1, 3, 224, 224))
    for hook in hooks:
        hook.remove()
    # ResNetV2 skips 64x112^2, 256x56^2, 512x28^2 and its output 1024x14^2 (hooks fire in order)
    assert seen[:4] == [(64, 112, 112), (256, 56, 56), (512, 28, 28), (1024, 14, 14)]
    assert net.encoder.patch_embed.proj.out_channels == 768 and len(net.encoder.blocks) == 12
    assert net.encoder.patch_embed.num_patches == 196  # 1x1 patches on the 14^2 map
    assert seen[4:] == [(512, 14, 14), (256, 28, 28), (128, 56, 56), (64, 112, 112),
                        (16, 224, 224)]  # conv_more and the four decoder blocks
    assert logits.shape == (1, 2, 224, 224)
    assert [len(s.blocks) for s in backbone.stages] == [3, 4, 9]


def test_head_prompts_known_answers() -> None:
    prob = _rect()
    out = prompts.from_soft_mask(prob, "head", 16, k=2.5, margin=5.0)
    mass = 0.6 * 100 + 100
    cx = (0.6 * 100 * 14.5 + 100 * 24.5) / mass
    var_x = (0.6 * 100 * ((14.5 - cx) ** 2 + 99 / 12) + 100 * ((24.5 - cx) ** 2 + 99 / 12)) / mass
    half_x, half_y = 2.5 * math.sqrt(var_x), 2.5 * math.sqrt(99 / 12)
    expected = [cx - half_x - 5, 14.5 - half_y - 5, cx + half_x + 5, 14.5 + half_y + 5]
    assert torch.allclose(out.box[0], torch.tensor(expected), atol=1e-3)
    p2 = (0.36 * 100 * 14.5 + 100 * 24.5) / (0.36 * 100 + 100)
    assert torch.allclose(out.points[0, 0], torch.tensor([p2, 14.5]), atol=1e-3)
    # the corner farthest from the positive point (right of the box centre, level with it): the
    # left corners tie and argmax takes the first, the top-left one
    assert torch.equal(out.points[0, 1], out.box[0, :2])
    assert out.labels.tolist() == [[1, 0]] and out.mask.shape == (1, 1, 16, 16)


def test_seed_prompts_known_answers() -> None:
    out = prompts.from_soft_mask(_rect(), "seed", 16)
    assert out.box[0].tolist() == [10.0, 10.0, 29.0, 19.0]  # extent of P > 0.5
    assert torch.allclose(out.points[0, 0], torch.tensor([(60 * 14.5 + 100 * 24.5) / 160, 14.5]),
                          atol=1e-3)
    assert torch.allclose(out.points[0, 1], torch.tensor([14.5, 14.5]), atol=1e-3)  # 1-P in box


def test_mask_prompt_and_soft_selection() -> None:
    prob = torch.full((1, 8, 8), 0.75)
    direct = prompts.mask_prompt(prob, 4, blur=False)
    assert torch.allclose(direct, torch.full((1, 1, 4, 4), 5.0))  # (2 * 0.75 - 1) * 10
    masks = torch.stack([torch.full((2, 2), v) for v in (1.0, 2.0, 3.0)])[None]
    iou = torch.tensor([[0.9, 0.1, 0.1]])
    weights = torch.softmax(iou / 0.1, 1)[0]
    merged = prompts.soft_select(masks, iou, 0.1)
    expected = (weights * torch.tensor([1.0, 2.0, 3.0])).sum()
    assert torch.allclose(merged, expected.expand(1, 1, 2, 2))


def test_sam_input_normalisation_per_checkpoint() -> None:
    image = torch.full((1, 3, 8, 8), 0.5)
    image[..., 0, 0] = 1.0
    sam = sam_pixels(image, 8, "sam")
    expected = (0.5 * 255 - arch.PIXEL_MEAN[0]) / arch.PIXEL_STD[0]
    assert math.isclose(float(sam[0, 0, 4, 4]), expected, rel_tol=1e-5)
    assert float(sam[0, 0].max() - sam[0, 0].min()) > 2  # not the reference's constant image
    medsam = sam_pixels(image, 8, "medsam")
    assert float(medsam.min()) == 0.0 and float(medsam.max()) == 1.0
    assert method.sam_input(dataclasses.replace(TINY, weights="medsam_vit_b.pth")) == "medsam"
    assert method.sam_input(dataclasses.replace(TINY, weights="sam_vit_b_01ec64.pth")) == "sam"


def test_simulated_coarse_masks_are_seeded() -> None:
    mask = torch.zeros(32, 32)
    mask[8:24, 8:24] = 1
    first = corrupt.simulate(mask, torch.Generator().manual_seed(5))
    again = corrupt.simulate(mask, torch.Generator().manual_seed(5))
    other = corrupt.simulate(mask, torch.Generator().manual_seed(6))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert float(first.min()) >= 0 and float(first.max()) <= 1 and not torch.equal(first, mask)


def _batch() -> dict:
    torch.manual_seed(0)
    mask = torch.zeros(2, 1, 64, 64, dtype=torch.uint8)
    mask[:, :, 16:40, 20:44] = 1
    return {"image": torch.rand(2, 3, 64, 64), "mask": mask}


@pytest.mark.parametrize("variant", ["head", "seed"])
def test_refined_loss_alone_reaches_transunet(variant: str) -> None:
    cfg = method.phase_config(dataclasses.replace(TINY, phase="joint", prompt_variant=variant))
    torch.manual_seed(0)
    model = method.build(cfg, None)
    train.freeze(model, cfg.frozen)
    cfg = dataclasses.replace(cfg, w_coarse=0.0, w_refined=1.0)  # the refined loss alone
    method.train_step(model.train(), _batch(), cfg)["loss"].backward()
    grads = [p.grad for n, p in model.named_parameters() if n.startswith("coarse.")]
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)
    assert all(p.grad is None for n, p in model.named_parameters()
               if n.startswith("sam.image_encoder."))


def test_phases_train_what_the_spec_says() -> None:
    shares = {}
    for phase in method.PHASES:
        cfg = method.phase_config(dataclasses.replace(TINY, phase=phase))
        model = method.build(cfg, None)
        counts = train.freeze(model, cfg.frozen)
        trained = {n.split(".")[0] + "." + n.split(".")[1] for n, p in model.named_parameters()
                   if p.requires_grad}
        shares[phase] = (trained, counts["params_trainable"] / counts["params_total"])
        if phase == "joint":
            groups = method.param_groups(model, cfg)
            assert [g["lr"] for g in groups] == [1e-4, 1e-5] and cfg.grad_clip == 1.0
    assert shares["coarse"][0] == {"coarse.encoder", "coarse.conv_more", "coarse.blocks",
                                   "coarse.head"}
    assert shares["refiner"][0] == {"sam.prompt_encoder", "sam.mask_decoder"}
    assert shares["joint"][0] == shares["coarse"][0] | shares["refiner"][0]
    assert method.phase_config(dataclasses.replace(TINY, phase="coarse")).schedule == "poly"


def test_joint_schedule_ends_at_upstream_floor_in_both_groups() -> None:
    """train_e2e.py: CosineAnnealingLR(eta_min=1e-6) over both AdamW groups, so the SAM group
    (1e-5) and the TransUNet group (1e-4) both end at 1e-6 (not 1e-6 scaled by 1e-5 / 1e-4)."""
    cfg = method.phase_config(dataclasses.replace(TINY, phase="joint", joint_steps=3))
    model = method.build(cfg, None)
    train.freeze(model, cfg.frozen)
    opt = train.make_optimizer(model, method, cfg)
    sched = train.make_scheduler(opt, cfg)
    for _ in range(cfg.max_steps):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-6, 1e-6])


@pytest.mark.parametrize("ratio", [0.0, 0.3, 1.0])
def test_phase_two_refines_out_of_fold_masks_at_the_configured_ratio(ratio: float) -> None:
    """Each sample's coarse input is exactly its out-of-fold mask (with probability oof_ratio) or
    a mask simulated from the reference; over 600 samples the share is within 4 std of it."""
    n = 600
    mask = torch.zeros(n, 1, 16, 16, dtype=torch.uint8)
    mask[:, :, 4:12, 5:11] = 1
    coarse = torch.rand(n, 1, 16, 16)  # no simulated mask (noise around 0/1) can equal these
    cfg = dataclasses.replace(TINY, phase="refiner", oof_ratio=ratio)
    chosen, from_oof = method.coarse_inputs({"mask": mask, "coarse": coarse}, cfg,
                                            torch.Generator().manual_seed(0))
    exact = (chosen == coarse[:, 0]).flatten(1).all(1)
    assert torch.equal(exact, from_oof)
    assert abs(float(from_oof.float().mean()) - ratio) <= 4 * math.sqrt(ratio * (1 - ratio) / n)
    if ratio > 0:
        with pytest.raises(ValueError, match="needs out-of-fold Phase-1 masks"):
            method.coarse_inputs({"mask": mask}, cfg, torch.Generator().manual_seed(0))


def test_refiner_sam_call_equals_sam_predictor() -> None:
    """Our prompted SAM call (points + box + mask, multimask) gives SamPredictor's logits and IoU
    predictions on the same weights, image and prompts (an image already at SAM's input size)."""
    from segment_anything import SamPredictor

    torch.manual_seed(0)
    model = method.build(TINY, None).eval()
    pixels = torch.randint(0, 256, (64, 64, 3), dtype=torch.uint8)
    image = pixels.permute(2, 0, 1)[None].float() / 255
    prob = _rect()
    with torch.no_grad():
        masks, iou = model.refine(model.embed(image), prob)
    found = prompts.from_soft_mask(prob, "head", 16)
    predictor = SamPredictor(model.sam)
    predictor.set_image(pixels.numpy())
    logits, scores, _ = predictor.predict(
        point_coords=found.points[0].numpy(), point_labels=found.labels[0].numpy(),
        box=found.box[0].numpy(), mask_input=found.mask[0].numpy(), multimask_output=True,
        return_logits=True)
    assert torch.allclose(masks[0], torch.as_tensor(logits), atol=1e-4)
    assert torch.allclose(iou[0], torch.as_tensor(scores), atol=1e-5)


def test_phase_labels_and_card_checks() -> None:
    from benchmarks.core import registry
    from benchmarks.stages import check

    assert registry.phases("ultra_refiner") == ["coarse", "refiner", "joint"]
    assert registry.scored_phases("ultra_refiner") == ["coarse"]
    assert registry.result_label("ultra_refiner", "coarse") == "ultra_refiner:coarse"
    assert registry.result_label("ultra_refiner", "joint") == "ultra_refiner"
    assert registry.result_label("resnet_seg", None) == "resnet_seg"
    assert check.phase_problems("card", [{"name": "a"}, {"name": "a"}])  # duplicate names
    assert check.phase_problems("card", [{"name": "a"}, {"name": "b", "evaluate": True}]) == []
    assert registry.oof_source("ultra_refiner", "refiner") == "coarse"
    assert registry.phase_jobs("ultra_refiner") == [
        "phase=coarse/train", "phase=coarse/half=0/train", "phase=coarse/half=0/predict",
        "phase=coarse/half=1/train", "phase=coarse/half=1/predict", "phase=coarse/predict",
        "phase=coarse/evaluate", "phase=refiner/train"]
    later = [{"name": "a", "oof_of": "b"}, {"name": "b"}, {"name": "c"}]  # not an earlier phase
    last = [{"name": "a"}, {"name": "b", "oof_of": "a"}]  # the cell's own phase: no oof jobs
    assert check.phase_problems("card", later) and check.phase_problems("card", last)
    assert check.phase_problems("card", [{"name": "a"}, {"name": "b", "oof_of": "a"},
                                         {"name": "c"}]) == []


def _recorded_inputs(model: torch.nn.Module) -> tuple[dict, list]:
    """Forward pre-hooks that keep what TransUNet and SAM's image encoder are given."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [part.register_forward_pre_hook(
        lambda _m, args, name=name: seen.__setitem__(name, args[0].detach().clone()))
        for name, part in (("transunet", model.coarse), ("sam", model.sam.image_encoder))]
    return seen, hooks


@pytest.mark.parametrize("phase", ["coarse", "joint"])
def test_predict_feeds_transunet_and_sam_the_training_geometry(phase: str) -> None:
    """Issue 21 item 1: for a non-square image of another size than the training size, the
    TransUNet input and the SAM input built at predict are the tensors built for training (the
    harness's resize to image_size, then SAM's upsampling of that frame; methods-spec 6.4)."""
    import numpy as np

    from benchmarks.data import batches
    from benchmarks.data.base import Sample

    rng = np.random.default_rng(0)
    image = (rng.random((75, 110, 3)) * 255).astype(np.uint8)
    mask = np.zeros((75, 110), bool)
    mask[20:50, 30:80] = True
    sample = Sample("c", image, mask, None)
    cfg = method.phase_config(dataclasses.replace(TINY, phase=phase))
    torch.manual_seed(0)
    model = method.build(cfg, None).eval()
    seen, hooks = _recorded_inputs(model)
    with torch.no_grad():
        method.train_step(model, batches.collate([batches.resized(sample, cfg.image_size)]), cfg)
        trained = dict(seen)
        seen.clear()
        prob = method.predict(model, batches.original_batch(sample), cfg)
    for hook in hooks:
        hook.remove()
    assert prob.shape == (1, 1, 75, 110)
    assert set(seen) == set(trained) == ({"transunet"} if phase == "coarse" else
                                         {"transunet", "sam"})
    for name, tensor in trained.items():
        assert torch.equal(seen[name], tensor), name


def test_phase_two_simulates_coarse_masks_at_sam_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 21 item 4: the reference simulates coarse masks at SAM's 1024 input; simulating at
    the 224 training size and upsampling made every corruption ~4.6x coarser."""
    sizes: list[tuple[int, ...]] = []
    real = corrupt.simulate
    monkeypatch.setattr(corrupt, "simulate", lambda m, g: sizes.append(tuple(m.shape)) or
                        real(m, g))
    mask = torch.zeros(2, 1, 32, 32, dtype=torch.uint8)
    mask[:, :, 8:24, 8:24] = 1
    cfg = dataclasses.replace(TINY, phase="refiner", oof_ratio=0.0)
    prob, _ = method.coarse_inputs({"mask": mask}, cfg, torch.Generator().manual_seed(0), 128)
    assert sizes == [(128, 128), (128, 128)] and prob.shape == (2, 128, 128)


def test_boundary_noise_touches_the_boundary_only() -> None:
    x = torch.zeros(1, 1, 20, 20)
    x[..., 5:15, 5:15] = 1.0
    noisy = corrupt.boundary_noise(x, torch.Generator().manual_seed(0))
    changed = (noisy != x)[0, 0]
    assert changed[4:16, 4:16].any() and not changed[7:13, 7:13].any()  # not deep inside
    assert not changed[:3].any() and not changed[:, :3].any()  # nor far outside
    assert float((noisy - x).std()) > 0


def _in21k_file(tmp_path, drop: str | None = None):
    """A file with the keys of timm's ``vit_base_r50_s16_224`` (no head) and random values, as
    the hub's ``orig_in21k`` safetensors holds them; ``drop``: leave one key out."""
    from safetensors.torch import save_file

    encoder = TransUNet("base", 224).encoder
    state = {k: torch.rand_like(v) if v.is_floating_point() else v.clone()
             for k, v in encoder.state_dict().items() if k != drop}
    path = tmp_path / "vit_base_r50_s16_224.orig_in21k.safetensors"
    save_file(state, str(path))
    return path, state


def test_transunet_encoder_loads_the_in21k_file_strictly_through_the_registry(tmp_path) -> None:
    """Issue 21 item 5: the train stage resolves ``encoder_weights`` like ``weights`` (sha256 of
    the card's registry, or the override), loads it strictly into TransUNet's encoder, and records
    the checksum; a file missing a key or with another checksum is refused, naming the file."""
    from types import SimpleNamespace

    from benchmarks.core import weights
    from methods._api import WeightsError

    path, state = _in21k_file(tmp_path)
    holder = SimpleNamespace(coarse=TransUNet("base", 224))
    cfg = method.Config(encoder_weights=path.name,
                        encoder_weights_sha256=weights.sha256_file(path))
    loaded = train.load_extra_weights(method, cfg, "ultra_refiner", holder, tmp_path)
    assert loaded == {"encoder_weights": weights.sha256_file(path)}
    own = holder.coarse.encoder.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items())
    # the registry's checksum (the hub's file), not this one's
    with pytest.raises(weights.WeightsFileError, match="a03ec9cf"):
        train.load_extra_weights(method, dataclasses.replace(cfg, encoder_weights_sha256=None),
                                 "ultra_refiner", holder, tmp_path)
    path, _ = _in21k_file(tmp_path, drop="pos_embed")
    with pytest.raises(WeightsError, match=r"orig_in21k.*missing.*pos_embed"):
        method.load_encoder(holder, path)
    unset = train.load_extra_weights(method, method.Config(), "ultra_refiner", holder, tmp_path)
    assert unset == {"encoder_weights": weights.RANDOM_INIT}
