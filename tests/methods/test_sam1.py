"""SAM v1 wrappers against upstream on the same random-init weights and inputs.

Zero-shot SAM is compared with ``segment_anything.SamPredictor``; zero-shot MedSAM with the steps of
MedSAM's ``MedSAM_Inference.py`` (``medsam_inference``) run on segment-anything's modules.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from methods._sam1 import arch, infer
from methods.medsam_zeroshot import method as medsam
from methods.sam_zeroshot import method as sam

TOL = 1e-5  # issue 10: max abs difference of probabilities at the original size


def _image(height: int = 75, width: int = 100) -> tuple[np.ndarray, dict]:
    """A random uint8 RGB image and the Batch our ``predict`` receives for it (one box)."""
    rgb = (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)
    image = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255)[None]
    box = np.array([12.0, 20.0, 70.0, 61.0])
    return rgb, {"image": image, "box": torch.tensor(box, dtype=torch.float32)[None],
                 "meta": [{"case_id": "x"}]}


def _model(module, **overrides):
    cfg = module.Config(**overrides)
    torch.manual_seed(0)
    return module.build(cfg, None).eval(), cfg


@pytest.mark.parametrize("size", [64, 128])
def test_sam_equals_sam_predictor(size: int) -> None:
    from segment_anything import SamPredictor

    model, cfg = _model(sam, variant="tiny", image_size=size)
    rgb, batch = _image()
    with torch.no_grad():
        ours = sam.predict(model, batch, cfg)
    predictor = SamPredictor(model)
    predictor.set_image(rgb)
    logits, _, _ = predictor.predict(box=batch["box"][0].numpy(), multimask_output=False,
                                     return_logits=True)
    theirs = torch.sigmoid(torch.from_numpy(logits))[None]
    assert ours.shape == theirs.shape == (1, 1, 75, 100)
    assert float((ours - theirs).abs().max()) <= TOL
    assert float(theirs.std()) > 0  # a real map, not a constant


def test_sam_vit_b_layout_equals_registry() -> None:
    from segment_anything import sam_model_registry

    ours = arch.build_sam(arch.LAYOUTS["vit_b"], 1024)
    with torch.device("meta"):
        registry = sam_model_registry["vit_b"]()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in registry.state_dict().items()}


def _medsam_reference(model, rgb: np.ndarray, box: np.ndarray) -> torch.Tensor:
    """MedSAM_Inference.py: skimage's order-3 resize to the square input, uint8, min-max to
    [0, 1], box scaled, sigmoid, bilinear back (scikit-image itself, a test dependency)."""
    from skimage import transform

    height, width = rgb.shape[:2]
    size = model.image_encoder.img_size
    img_1024 = transform.resize(rgb, (size, size), order=3, preserve_range=True,
                                anti_aliasing=True).astype(np.uint8)
    img_1024 = (img_1024 - img_1024.min()) / np.clip(img_1024.max() - img_1024.min(), 1e-8, None)
    img = torch.tensor(img_1024).float().permute(2, 0, 1)[None]
    embedding = model.image_encoder(img)
    box_1024 = torch.tensor(box / np.array([width, height, width, height]) * size,
                            dtype=torch.float)[None, None]
    sparse, dense = model.prompt_encoder(points=None, boxes=box_1024, masks=None)
    low_res, _ = model.mask_decoder(image_embeddings=embedding,
                                    image_pe=model.prompt_encoder.get_dense_pe(),
                                    sparse_prompt_embeddings=sparse,
                                    dense_prompt_embeddings=dense, multimask_output=False)
    return F.interpolate(torch.sigmoid(low_res), size=(height, width), mode="bilinear",
                         align_corners=False)


def test_medsam_equals_medsam_inference_steps() -> None:
    model, cfg = _model(medsam, variant="tiny", image_size=64)
    rgb, batch = _image()
    with torch.no_grad():
        ours = medsam.predict(model, batch, cfg)
        theirs = _medsam_reference(model, rgb, batch["box"][0].numpy())
    assert ours.shape == theirs.shape == (1, 1, 75, 100)
    assert float((ours - theirs).abs().max()) <= TOL


@pytest.mark.parametrize("shape", [(75, 100, 64), (128, 160, 1024), (300, 200, 256)])
def test_medsam_resize_is_skimage_order_3(shape: tuple[int, int, int]) -> None:
    """Issue 21 item 9: upstream's skimage.transform.resize(order=3, preserve_range=True,
    anti_aliasing=True) then uint8, to the grey level, up- and downsampling (torch's bicubic,
    used before, differed by 4 grey levels on average and up to 41 on a synthetic BUS image)."""
    from skimage import transform

    height, width, size = shape
    rgb = (np.random.default_rng(1).random((height, width, 3)) * 255).astype(np.uint8)
    theirs = transform.resize(rgb, (size, size), order=3, preserve_range=True,
                              anti_aliasing=True).astype(np.uint8)
    assert np.array_equal(infer.skimage_resize_uint8(rgb, size), theirs)


def test_medsam_encoder_sees_min_max_input_without_mean_std() -> None:
    model, cfg = _model(medsam, variant="tiny", image_size=64)
    _, batch = _image()
    seen = []
    model.image_encoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    with torch.no_grad():
        medsam.predict(model, batch, cfg)
    assert seen[0].shape == (1, 3, 64, 64)
    assert float(seen[0].min()) == 0.0 and float(seen[0].max()) == 1.0


def test_empty_reference_gives_an_empty_prediction() -> None:
    model, cfg = _model(sam, variant="tiny", image_size=64)
    _, batch = _image()
    batch["box"] = torch.full((1, 4), float("nan"))
    with torch.no_grad():
        assert float(sam.predict(model, batch, cfg).max()) == 0.0


def test_unprompted_batch_is_refused_with_the_fix() -> None:
    model, cfg = _model(sam, variant="tiny", image_size=64)
    _, batch = _image()
    del batch["box"]
    with pytest.raises(KeyError, match="prompt=box"):
        sam.predict(model, batch, cfg)


def test_1024_checkpoint_loads_strictly_into_a_smaller_input(tmp_path) -> None:
    big = arch.build_sam(arch.LAYOUTS["tiny"], 128)
    path = tmp_path / "tiny1024.pth"
    torch.save(big.state_dict(), path)
    small = arch.build_sam(arch.LAYOUTS["tiny"], 64)
    arch.load_checkpoint(small, path)  # pos_embed and rel_pos resized, everything else exact
    assert torch.equal(small.mask_decoder.iou_token.weight, big.mask_decoder.iou_token.weight)


def test_a_checkpoint_of_another_backbone_is_refused(tmp_path) -> None:
    from methods._api import WeightsError

    path = tmp_path / "tiny.pth"
    torch.save(arch.build_sam(arch.LAYOUTS["tiny"], 64).state_dict(), path)
    with torch.device("meta"):
        other = arch.build_sam(arch.LAYOUTS["vit_b"], 64)
    with pytest.raises(WeightsError, match="tiny.pth"):
        arch.load_checkpoint(other, path)
