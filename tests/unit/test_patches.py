"""The harness's 3D patch path (benchmarks/data/patches.py) with known answers: a pointwise "model"
whose answer is known at every voxel, shapes at known world coordinates, seeded sampling."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from benchmarks.data import patches
from benchmarks.data.base import Sample


class Pointwise:
    """A method whose probability at a voxel depends only on that voxel's intensity."""

    @staticmethod
    def predict(model, batch, cfg):
        return torch.sigmoid(4.0 * (batch["image"] - 0.5))


class Identity:
    """Probability = intensity (a volume of 0/1 comes back as its own mask)."""

    @staticmethod
    def predict(model, batch, cfg):
        return batch["image"].clamp(0, 1)


def _mcfg(patch, target, overlap=0.5, blend="gaussian", batch_size=2):
    return SimpleNamespace(patch_size=list(patch), target_spacing=list(target),
                           sw_overlap=overlap, sw_blend=blend, batch_size=batch_size)


@pytest.mark.parametrize("blend", ["gaussian", "constant"])
def test_sliding_window_equals_whole_volume_for_a_pointwise_model(blend: str) -> None:
    rng = np.random.default_rng(0)
    image = rng.random((40, 36, 11), dtype=np.float32)  # z smaller than the patch: padded
    prob = patches.predict_volume(Pointwise, None, _mcfg((16, 16, 16), (1, 1, 1), 0.5, blend),
                                  image, (1.0, 1.0, 1.0), torch.device("cpu"))
    whole = Pointwise.predict(None, {"image": torch.from_numpy(image)}, None).numpy()
    assert prob.shape == image.shape and prob.dtype == np.float32
    assert float(np.abs(prob - whole).max()) < 1e-5


def test_known_box_lands_back_on_its_world_coordinates() -> None:
    spacing, target = (0.8, 0.8, 2.5), (1.0, 1.0, 1.0)  # anisotropic volume, isotropic network
    shape = (60, 50, 16)
    box_mm = ((16.0, 32.0), (8.0, 24.0), (10.0, 25.0))  # [lo, hi) in mm along X, Y, Z
    # voxel centres in mm
    centres = [(np.arange(n) + 0.5) * s for n, s in zip(shape, spacing, strict=True)]
    inside = [(c >= lo) & (c < hi) for c, (lo, hi) in zip(centres, box_mm, strict=True)]
    truth = inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]
    mcfg = _mcfg((16, 16, 16), target)
    assert patches.window_voxels(spacing, target, mcfg.patch_size) == (20, 20, 6)  # resampled
    prob = patches.predict_volume(Identity, None, mcfg, truth.astype(np.float32), spacing,
                                  torch.device("cpu"))
    pred = prob >= 0.5
    assert pred.shape == shape  # original grid, so the original spacing applies
    assert np.array_equal(pred, truth)
    centroid_mm = [float((np.nonzero(pred)[a] + 0.5).mean() * spacing[a]) for a in range(3)]
    assert centroid_mm == pytest.approx([24.0, 16.0, 17.5])  # the box centre in mm


def test_normalise_window_in_place_and_percentiles() -> None:
    volume = np.array([-500.0, -160.0, 40.0, 240.0, 900.0], np.float32)
    out = patches.normalise(volume, (-160.0, 240.0))
    assert out is volume  # no second copy of a float32 volume
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 1.0, 1.0])
    mr = patches.normalise(np.arange(1001, dtype=np.float32), None)  # 0.5-99.5th percentiles
    assert mr[5] == pytest.approx(0.0) and mr[995] == pytest.approx(1.0) and mr[500] == 0.5


def test_crop_pads_outside_the_volume() -> None:
    array = np.arange(27).reshape(3, 3, 3)
    out = patches.crop(array, (-1, 1, 0), (3, 3, 2))
    assert out.shape == (3, 3, 2) and (out[0] == 0).all()
    assert np.array_equal(out[1:, :2], array[:2, 1:, :2]) and (out[:, 2] == 0).all()


def test_foreground_items_follow_nnunets_rule() -> None:
    assert patches.forced_items(2, 0.33) == [False, True]  # round(2 * 0.67) = 1 free item
    assert patches.forced_items(3, 1 / 3) == [False, False, True]
    assert patches.forced_items(4, 0.0) == [False] * 4
    assert patches.forced_items(2, 1.0) == [True, True]
    with pytest.raises(ValueError, match="train_fg_fraction"):
        patches.forced_items(2, 1.5)


def _blob_volume(case_id: str) -> Sample:
    """64^3 of noise with a 3-voxel foreground cube: a uniform 16^3 patch rarely holds it."""
    image = np.random.default_rng(1).random((64, 64, 64), dtype=np.float32)
    mask = np.zeros(image.shape, bool)
    mask[50:53, 5:8, 30:33] = True
    return Sample(case_id, image, mask, (1.0, 1.0, 1.0), "volume")


def test_foreground_oversampling_share_and_seeding() -> None:
    samples = [_blob_volume("a"), _blob_volume("b")]
    mcfg = _mcfg((16, 16, 16), (1, 1, 1), batch_size=3)
    stream = patches.training_batches(samples, mcfg, 1 / 3, seed=5)
    batches = [next(stream) for _ in range(30)]
    assert batches[0]["image"].shape == (3, 1, 16, 16, 16)
    assert batches[0]["mask"].dtype == torch.uint8
    has_fg = np.array([[bool(b["mask"][i].any()) for i in range(3)] for b in batches])
    assert has_fg[:, 2].all()  # the forced third of every batch holds foreground
    assert has_fg[:, :2].mean() < 0.2  # uniform windows: 1.7% chance per 16^3 patch
    again = patches.training_batches(samples, mcfg, 1 / 3, seed=5)
    other = patches.training_batches(samples, mcfg, 1 / 3, seed=6)
    first_again, first_other = next(again), next(other)
    assert torch.equal(first_again["image"], batches[0]["image"])
    assert not torch.equal(first_other["image"], batches[0]["image"])


def test_training_patches_are_resampled_to_the_patch() -> None:
    sample = _blob_volume("a")
    sample = Sample("a", sample.image, sample.mask, (0.5, 0.5, 2.0), "volume")
    image, mask = patches.training_patch(sample, _mcfg((16, 16, 8), (1, 1, 1)), True,
                                         np.random.default_rng(0))
    assert image.shape == mask.shape == (1, 16, 16, 8)  # from a 32x32x4 window
    assert bool(mask.any())
