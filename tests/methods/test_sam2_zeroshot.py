"""Zero-shot SAM2 against upstream sam2 1.1.0: our hydra-free build equals ``build_sam2``, and
``predict`` equals ``SAM2ImagePredictor`` on the same weights, image and box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.stages import train
from methods import _sam2
from methods._api import WeightsError
from methods.sam2_zeroshot import method as zs

H, W = 150, 200  # a non-square "original" image; the model works at image_size x image_size
BOX = np.array([40.0, 30.0, 150.0, 120.0], dtype=np.float32)  # xyxy in original pixels


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = (rng.random((H, W, 3)) * 60).astype(np.uint8)
    image[30:120, 40:150] += 120  # a bright "lesion" inside the box
    return image


def _batch(image: np.ndarray, box: np.ndarray = BOX) -> dict:
    pixels = torch.from_numpy(image).permute(2, 0, 1).float().div(255.0)  # as batches.image_tensor
    return {"image": pixels[None], "box": torch.from_numpy(box)[None]}


def _upstream_build(backbone: str, size: int) -> torch.nn.Module:
    """sam2's own ``build_sam2`` (Hydra compose) with cpu-feasibility 3.2's small-size overrides."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from sam2.build_sam import build_sam2

    GlobalHydra.instance().clear()  # the harness's config composition may have left its own
    initialize_config_module("sam2", version_base="1.2")  # what `import sam2` does
    s16 = size // 16
    overrides = [f"++model.image_size={size}",
                 f"++model.memory_attention.layer.self_attention.feat_sizes=[{s16},{s16}]",
                 f"++model.memory_attention.layer.cross_attention.feat_sizes=[{s16},{s16}]"]
    config = f"configs/sam2.1/sam2.1_hiera_{_sam2.BACKBONES[backbone]}.yaml"
    try:
        return build_sam2(config, None, device="cpu", hydra_overrides_extra=overrides)
    finally:
        GlobalHydra.instance().clear()


def _upstream_probabilities(model: torch.nn.Module, image: np.ndarray, multimask: bool
                            ) -> torch.Tensor:
    import warnings

    from sam2.sam2_image_predictor import SAM2ImagePredictor

    with warnings.catch_warnings():  # SAM2Transforms uses torch.jit.script (cpu-feasibility 10.6)
        warnings.simplefilter("ignore", FutureWarning)
        predictor = SAM2ImagePredictor(model)
    predictor._bb_feat_sizes = _sam2.feature_sizes(model.image_size)  # cpu-feasibility 3.2
    with torch.inference_mode():
        predictor.set_image(image)
        logits, scores, _ = predictor.predict(box=BOX, multimask_output=multimask,
                                              return_logits=True)
    best = int(np.argmax(scores)) if multimask else 0
    return torch.sigmoid(torch.from_numpy(logits[best]))


def test_hydra_free_build_equals_build_sam2() -> None:
    train.seed_everything(0)
    upstream = _upstream_build("hiera_t", 128)
    train.seed_everything(0)
    ours = _sam2.build_model("hiera_t", 128)
    theirs = upstream.state_dict()
    assert list(ours.state_dict()) == list(theirs)
    assert all(torch.equal(v, theirs[k]) for k, v in ours.state_dict().items())
    assert ours.sam_mask_decoder.dynamic_multimask_via_stability  # build_sam2's postprocessing
    assert ours.image_size == upstream.image_size == 128


@pytest.mark.parametrize(("backbone", "size", "multimask"), [
    ("hiera_t", 128, False), ("hiera_t", 128, True), ("hiera_s", 128, False),
    ("hiera_b_plus", 128, False), ("hiera_l", 128, False), ("hiera_t", 1024, False)])
def test_predict_equals_sam2_image_predictor(backbone: str, size: int, multimask: bool) -> None:
    train.seed_everything(0)
    variant = "base" if size == _sam2.UPSTREAM_SIZE else "tiny"
    cfg = zs.Config(variant=variant, backbone=backbone, image_size=size, multimask=multimask)
    model = zs.build(cfg, None)
    image = _image()
    expected = _upstream_probabilities(model, image, multimask)
    with torch.no_grad():
        ours = zs.predict(model, _batch(image), cfg)
    assert ours.shape == (1, 1, H, W) and expected.shape == (H, W)
    assert float((ours[0, 0] - expected).abs().max()) <= 1e-5
    assert 0.0 < float((ours > 0.5).float().mean()) < 1.0  # not a trivial all/none mask


def test_nan_box_gives_an_empty_prediction_without_asking_sam2() -> None:
    cfg = zs.Config(variant="tiny", backbone="hiera_t", image_size=64)
    model = zs.build(cfg, None)
    batch = _batch(_image(), np.full(4, np.nan, dtype=np.float32))
    with torch.no_grad():
        assert torch.equal(zs.predict(model, batch, cfg), torch.zeros(1, 1, H, W))


def test_base_variant_refuses_a_non_upstream_size() -> None:
    with pytest.raises(ValueError, match="variant=tiny"):
        zs.build(zs.Config(backbone="hiera_t", image_size=256), None)


def test_checkpoint_loads_strictly_at_a_small_size(tmp_path: Path) -> None:
    train.seed_everything(1)
    state = _sam2.build_model("hiera_t", 1024).state_dict()
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": state}, path)  # the official layout
    model = zs.build(zs.Config(variant="tiny", backbone="hiera_t", image_size=128), path)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    with pytest.raises(WeightsError, match="does not fit"):
        zs.build(zs.Config(variant="tiny", backbone="hiera_s", image_size=128), path)
