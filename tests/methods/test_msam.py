"""M-SAM's parts (methods/msam): the trainable share at ViT-B, LoRA's zero start, strict loading of
a SAM-Med3D(-turbo) state dict, the optimiser groups, the click rule and the feed-back switch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from methods._api import WeightsError
from methods.msam import method
from methods.msam.clicks import next_click, to_axis_order
from methods.msam.model import MSAM, lora_prefixes, trainable_share

TINY = [32, 32, 16]


def _tiny(rank: int = 4, **kw) -> tuple[method.Config, MSAM]:
    cfg = method.Config(variant="tiny", patch_size=TINY, lora_rank=rank, **kw)
    torch.manual_seed(0)
    return cfg, method.build(cfg, None)


def test_trainable_share_at_vit_b_is_about_a_fifth() -> None:
    with torch.device("meta"):  # 118M parameters counted without allocating them
        model = MSAM("base", [128, 128, 128], 4)
    trainable, total = trainable_share(model)
    print(f"M-SAM ViT-B: {trainable:,} of {total:,} parameters trainable ({trainable / total:.1%})")
    assert (trainable, total) == (23_767_772, 117_800_944)  # 20.2 % (paper: about 20 %)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert not [n for n in names if n.startswith("image_encoder.") and ".lora_" not in n]
    lora = sum(p.numel() for n, p in model.named_parameters() if ".lora_" in n)
    assert lora == 12 * 2 * 2 * 768 * 4  # 12 blocks x (q, v) x (A, B) x 768 x r=4


def test_vit_b_parameter_shapes_follow_sam_med3d_vit_b_ori() -> None:
    with torch.device("meta"):
        state = MSAM("base", [128, 128, 128], 4).state_dict()
    shapes = {
        "image_encoder.patch_embed.proj.weight": (768, 1, 16, 16, 16),
        "image_encoder.pos_embed": (1, 8, 8, 8, 768),
        "image_encoder.blocks.0.attn.rel_pos_d": (27, 64),  # window 14 -> 2 * 14 - 1
        "image_encoder.blocks.2.attn.rel_pos_w": (15, 64),  # global block on 8^3 tokens
        "image_encoder.neck.2.weight": (384, 384, 3, 3, 3),
        "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": (3, 128),
        "prompt_encoder.mask_downscaling.3.weight": (16, 4, 2, 2, 2),
        "mask_decoder.transformer.layers.1.cross_attn_image_to_token.q_proj.weight": (192, 384),
        "mask_decoder.output_upscaling.3.weight": (96, 48, 2, 2, 2),
        "mask_decoder.output_hypernetworks_mlps.3.layers.2.weight": (48, 384),
        "mask_decoder.iou_prediction_head.layers.2.weight": (4, 256),
        "mea.fuse.rel_pos_h": (15, 64),  # 6 heads of 64 on the 8^3 embedding
    }
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    assert "image_encoder.blocks.11.attn.lora_v.b.weight" in state


def test_untrained_lora_leaves_the_base_encoder_unchanged() -> None:
    cfg, model = _tiny()
    _, base = _tiny(rank=0)
    plain = {k: v for k, v in model.state_dict().items() if ".lora_" not in k}
    base.load_state_dict(plain)
    image = torch.rand(2, 1, *TINY)
    with torch.no_grad():
        assert torch.equal(method.encode(model, {"image": image}, cfg),
                           method.encode(base, {"image": image}, cfg))
        model.image_encoder.blocks[0].attn.lora_v.b.weight.fill_(0.1)
        assert not torch.allclose(method.encode(model, {"image": image}, cfg),
                                  method.encode(base, {"image": image}, cfg))


def _checkpoint(tmp_path: Path, drop: str | None = None, extra: str | None = None) -> Path:
    _, base = _tiny(rank=0)  # SAM-Med3D without M-SAM's parts: what a turbo checkpoint holds
    state = {k: v for k, v in base.state_dict().items() if not k.startswith("mea.")}
    if drop:
        state.pop(drop)
    if extra:
        state[extra] = torch.zeros(1)
    path = tmp_path / "sam_med3d_turbo.pth"
    torch.save({"model_state_dict": state, "epoch": 199, "args": {"lr": 8e-4}}, path)
    return path


def test_sam_med3d_checkpoint_loads_strictly_beside_new_lora_and_mea(tmp_path: Path) -> None:
    cfg, _ = _tiny()
    path = _checkpoint(tmp_path)
    model = method.build(cfg, path)
    saved = torch.load(path, weights_only=False)["model_state_dict"]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())
    assert model.reinitialised == sorted(["mea.", *lora_prefixes(model)])
    with pytest.raises(WeightsError, match="missing.*neck"):
        method.build(cfg, _checkpoint(tmp_path, drop="image_encoder.neck.0.weight"))
    with pytest.raises(WeightsError, match="unexpected"):
        method.build(cfg, _checkpoint(tmp_path, extra="mask_decoder.extra.weight"))


def test_param_groups_are_train_msam_s() -> None:
    cfg, model = _tiny()
    fast, slow = method.param_groups(model, cfg)
    assert (fast["lr"], slow["lr"], fast["weight_decay"], slow["weight_decay"]) == (
        8e-4, 8e-5, 0.1, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)].split(".")[0] for p in fast["params"]} == {"image_encoder", "mea"}
    assert {names[id(p)].split(".")[0] for p in slow["params"]} == {"prompt_encoder",
                                                                    "mask_decoder"}
    assert len(fast["params"]) + len(slow["params"]) == sum(
        p.requires_grad for p in model.parameters())


def test_click_rule_false_negative_positive_false_positive_negative() -> None:
    gt = torch.zeros(3, 1, 4, 4, 4)
    prob = torch.zeros(3, 1, 4, 4, 4)
    gt[0, 0, 1, 2, 3] = 1  # missed voxel -> positive click there
    prob[1, 0, 3, 0, 1] = 0.9  # false positive -> negative click there
    coords, labels = next_click(prob, gt)  # item 2: nothing wrong -> padding point
    assert coords[:2, 0].tolist() == [[1, 2, 3], [3, 0, 1]]
    assert labels[:, 0].tolist() == [1, 0, -1]
    prob[0, 0, 1, 2, 3] = 0.5  # 0.5 is not foreground: thresholding is prob > 0.5
    assert next_click(prob, gt)[1][0, 0] == 1
    xyz = torch.tensor([[[5.0, 7.0, 2.0]]])  # harness (x=column, y=row, z)
    assert to_axis_order(xyz).tolist() == [[[7.0, 5.0, 2.0]]]


def test_iterations_and_the_feed_back_switch() -> None:
    cfg, model = _tiny(iterations=3)
    image, mask = torch.rand(1, 1, *TINY), torch.zeros(1, 1, *TINY)
    mask[..., 8:20, 8:20, 4:12] = 1
    runs = {}
    for feed_back in (False, True):
        cfg.feed_back = feed_back
        torch.manual_seed(1)  # the same clicks
        with torch.no_grad():
            runs[feed_back] = method.refine(model, method.encode(model, {"image": image}, cfg),
                                            mask, cfg)
    assert len(runs[False]) == 3 and runs[False][0].shape == (1, 1, *TINY)
    assert torch.equal(runs[False][0], runs[True][0])  # the first decode sees the same embedding
    assert not torch.allclose(runs[False][2], runs[True][2])


def test_decode_uses_clicks_and_previous_and_predict_is_the_plain_decode() -> None:
    cfg, model = _tiny()
    model.eval()
    batch = {"image": torch.rand(1, 1, *TINY)}
    with torch.no_grad():
        feats = method.encode(model, batch, cfg)
        plain = method.decode(model, feats, batch, cfg)
        assert torch.equal(plain, method.predict(model, batch, cfg))
        click = {**batch, "points": torch.tensor([[[10.0, 12.0, 8.0]]]),
                 "point_labels": torch.tensor([[1]])}
        clicked = method.decode(model, feats, click, cfg)
        previous = torch.full((1, 1, *TINY), 0.01)
        previous[..., 4:20, 4:20, 2:10] = 0.99  # a confident previous round
        refined = method.decode(model, feats, {**click, "previous": previous}, cfg)
    assert not torch.allclose(plain, clicked) and not torch.allclose(clicked, refined)
