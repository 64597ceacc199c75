"""ESAM2-BLS on the real sam2 Hiera trunk: identity adapters, shapes per backbone, what trains,
trunk-only checkpoint loading, the loss and the harness's cosine floor."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from benchmarks.stages import train
from methods import _sam2
from methods._api import WeightsError
from methods.esam2_bls import method as esam2

SIZE = 64  # Hiera strides 4..32: stage maps 16, 8, 4, 2
# Stage widths C1..C4 and block counts per backbone (methods-spec 1.3).
WIDTHS = {"hiera_t": (96, 12), "hiera_s": (96, 16), "hiera_b_plus": (112, 24), "hiera_l": (144, 48)}


def _model(backbone: str = "hiera_t", **kw) -> tuple[esam2.Config, torch.nn.Module]:
    cfg = esam2.Config(variant="tiny", backbone=backbone, image_size=SIZE, batch_size=2, **kw)
    train.seed_everything(0)
    return cfg, esam2.build(cfg, None)


def _batch() -> dict:
    gen = torch.Generator().manual_seed(1)
    mask = torch.zeros(2, 1, SIZE, SIZE, dtype=torch.uint8)
    mask[:, :, 16:40, 20:48] = 1
    return {"image": torch.rand(2, 3, SIZE, SIZE, generator=gen), "mask": mask}


def test_adapters_start_as_identity() -> None:
    """Before training, the adapted trunk gives exactly the upstream Hiera's stage maps."""
    _, model = _model()
    image = esam2.normalise(_batch()["image"], SIZE)
    with torch.no_grad():
        ours = model.stage_maps(image)
        upstream = model.trunk(image)  # sam2's own Hiera.forward, no adapters
    assert len(ours) == len(upstream) == 4
    assert all(torch.equal(a, b) for a, b in zip(ours, upstream, strict=True))


def test_adapters_change_the_trunk_once_trained() -> None:
    """The identity above is not vacuous: a non-zero adapter output changes the stage maps."""
    _, model = _model()
    torch.nn.init.normal_(model.adapters[0].up.weight, std=0.1)
    image = esam2.normalise(_batch()["image"], SIZE)
    with torch.no_grad():
        assert not torch.equal(model.stage_maps(image)[0], model.trunk(image)[0])


@pytest.mark.parametrize("backbone", list(WIDTHS))
def test_shapes_per_backbone(backbone: str) -> None:
    c1, blocks = WIDTHS[backbone]
    _, model = _model(backbone)
    assert len(model.adapters) == blocks
    assert model.adapters[0].branch[0].fc[0].out_features == 4  # SE floor: rC = C1/4 -> 24..36
    with torch.no_grad():
        maps = model.stage_maps(torch.zeros(1, 3, SIZE, SIZE))
        logits = model(torch.zeros(1, 3, SIZE, SIZE))
    assert [tuple(m.shape[1:]) for m in maps] == [
        (c1 * 2**i, SIZE // 4 // 2**i, SIZE // 4 // 2**i) for i in range(4)]
    assert [b.merge[0].out_channels for b in model.decoder] == [2 * c1, c1, c1 // 2]
    assert [tuple(x.shape) for x in logits] == [(1, 1, SIZE, SIZE)] * 3


def test_one_step_trains_only_non_trunk_parameters() -> None:
    cfg, model = _model()
    counts = train.freeze(model, cfg.frozen)
    assert counts["params_trainable"] == sum(
        p.numel() for n, p in model.named_parameters() if not n.startswith("trunk."))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = train.make_optimizer(model.train(), esam2, cfg)
    out = esam2.train_step(model, _batch(), cfg)
    assert all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    assert changed and not any(n.startswith("trunk.") for n in changed)
    assert {n.split(".")[0] for n in changed} == {"adapters", "msif", "decoder", "heads"}
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_loss_is_eq_15_with_mean_deep_supervision() -> None:
    cfg = esam2.Config()
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    outputs = [torch.full_like(target, v) for v in (-1.0, 0.0, 2.0)]
    parts = [esam2.iou_loss(o, target) + torch.nn.functional.binary_cross_entropy_with_logits(
        o, target) for o in outputs]
    expected = parts[2] + (0.2 * parts[0] + 0.3 * parts[1] + 0.5 * parts[2]) / 3
    assert torch.allclose(esam2.loss(outputs, target, cfg)["loss"], expected)
    p = 1 / (1 + math.exp(-2.0))  # IoU loss by hand for the constant logit 2: one fg pixel
    assert esam2.iou_loss(outputs[2], target).item() == pytest.approx(
        1 - (p + 1e-6) / (4 * p + 1 - p + 1e-6), rel=1e-5)


def _sam2_checkpoint(tmp_path: Path, backbone: str) -> Path:
    """A random full SAM2 model saved in the official layout ({"model": state_dict})."""
    train.seed_everything(5)
    path = tmp_path / "sam2.pt"
    torch.save({"model": _sam2.build_model(backbone, 128).state_dict()}, path)
    return path


def test_trunk_loads_strictly_from_a_sam2_checkpoint(tmp_path: Path) -> None:
    path = _sam2_checkpoint(tmp_path, "hiera_t")
    full = torch.load(path, weights_only=True)["model"]
    _, model = _model()
    reinit = esam2.load_trunk(model, path)
    assert reinit and {k.split(".")[0] for k in reinit} == {"adapters", "msif", "decoder", "heads"}
    assert model.reinitialised == ["adapters.", "decoder.", "heads.", "msif."]  # provenance
    own = model.state_dict()
    trunk_keys = [k for k in full if k.startswith(esam2.TRUNK_PREFIX)]
    assert trunk_keys and all(torch.equal(own["trunk." + k[len(esam2.TRUNK_PREFIX):]], full[k])
                              for k in trunk_keys)


def test_a_checkpoint_of_another_backbone_is_refused(tmp_path: Path) -> None:
    path = _sam2_checkpoint(tmp_path, "hiera_s")  # 16 blocks: 4 unexpected, shapes equal
    _, model = _model("hiera_t")
    with pytest.raises(WeightsError, match="unexpected"):
        esam2.load_trunk(model, path)


def test_cosine_schedule_ends_at_min_lr() -> None:
    cfg = esam2.Config(max_steps=10)
    factor = train.cosine_factor(cfg)
    assert factor(0) == 1.0
    assert factor(10) * cfg.lr == pytest.approx(cfg.min_lr)
    assert train.cosine_factor(esam2.Config(max_steps=10, min_lr=0.0))(10) == pytest.approx(0.0)
