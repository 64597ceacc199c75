"""Volumes for 2D methods: windowing, seeded foreground-oversampled slices, stacking back."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from benchmarks.data import volumes
from benchmarks.data.base import Sample


def _volume_sample() -> Sample:
    image = np.linspace(-500, 500, 4 * 5 * 10, dtype=np.float32).reshape(4, 5, 10)
    mask = np.zeros((4, 5, 10), bool)
    mask[1:3, 1:4, 6:8] = True  # foreground on slices 6 and 7 only
    return Sample("ct_007", image, mask, (0.8, 0.7, 2.5), "volume")


def test_window_maps_its_ends_to_0_and_255_and_clips() -> None:
    vol = np.array([-1000.0, -160.0, 40.0, 240.0, 3000.0], np.float32).reshape(1, 1, 5)
    assert volumes.to_uint8(vol, (-160.0, 240.0)).ravel().tolist() == [0, 0, 127, 255, 255]


def test_method_window_replaces_dataset_window_and_empty_means_percentiles() -> None:
    dcfg, mcfg = SimpleNamespace(window=[-160, 240]), SimpleNamespace(window=[-1000, 1000])
    assert volumes.window_of(dcfg, mcfg) == (-1000.0, 1000.0)
    assert volumes.window_of(dcfg, SimpleNamespace()) == (-160.0, 240.0)
    assert volumes.window_of(SimpleNamespace(window=[]), None) is None
    with pytest.raises(volumes.VolumeError, match="dataset.window"):
        volumes.window_of(SimpleNamespace(window=[5, 1]), None)


def test_percentile_window_when_none_is_declared() -> None:
    vol = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    out = volumes.to_uint8(vol, None)
    assert out.min() == 0 and out.max() == 255 and out[0, 0, 0] == 0 and out[-1, -1, -1] == 255


def test_training_slices_are_seeded_and_oversample_foreground() -> None:
    mask = _volume_sample().mask
    picked = volumes.training_slices(mask, 4, 0.5, np.random.default_rng(3))
    assert picked == volumes.training_slices(mask, 4, 0.5, np.random.default_rng(3))
    assert len(picked) == 4 and {6, 7} <= set(picked)  # both foreground slices, 2 others
    assert volumes.training_slices(mask, 0, 0.5, np.random.default_rng(0)) == list(range(10))
    only_fg = volumes.training_slices(mask, 3, 1.0, np.random.default_rng(0))
    assert {6, 7} <= set(only_fg) and len(only_fg) == 3  # 2 fg slices exist: 1 filled from bg


def test_slice_sample_is_a_2d_grey_rgb_image_with_volume_meta() -> None:
    sample = _volume_sample()
    u8 = volumes.to_uint8(sample.image, (-500.0, 500.0))
    part = volumes.slice_sample(u8, sample, 6)
    assert part.image.shape == (4, 5, 3) and part.image.dtype == np.uint8
    assert (part.image[..., 0] == u8[:, :, 6]).all() and (part.image[..., 2] == u8[:, :, 6]).all()
    assert (part.mask == sample.mask[:, :, 6]).all() and part.spacing_mm == (0.8, 0.7)
    assert part.meta["volume_id"] == "ct_007" and part.meta["slice_index"] == 6


def test_training_samples_use_dataset_sampling() -> None:
    sample = _volume_sample()
    dcfg = SimpleNamespace(window=[-500, 500], train_slices_per_volume=4, train_fg_fraction=0.5)
    parts = volumes.training_samples(sample, dcfg, None, seed=0)
    assert len(parts) == 4 and {6, 7} <= {p.meta["slice_index"] for p in parts}


def test_stack_returns_the_original_shape() -> None:
    sample = _volume_sample()
    slices = [sample.mask[:, :, z] for z in range(10)]
    assert (volumes.stack(slices, sample.mask.shape) == sample.mask).all()
    with pytest.raises(volumes.VolumeError, match="9 slice predictions"):
        volumes.stack(slices[:9], sample.mask.shape)


def test_slices_get_their_own_per_slice_box_from_the_volume_prompt() -> None:
    from benchmarks.data import batches, prompts
    from benchmarks.stages import cases

    sample = _volume_sample()
    protocol = prompts.parse_protocol("box0")
    doc = prompts.volume_prompts(sample.mask, protocol, np.random.default_rng(0))
    data = cases.RunData(None, SimpleNamespace(dims="3d"), {}, "", {}, protocol,
                         {"dataset_id": "ct", "cases": {"ct_007": doc}})
    u8 = volumes.to_uint8(sample.image, None)
    with_fg = batches.original_batch(volumes.slice_sample(u8, sample, 6),
                                     data.sample_prompt(volumes.slice_sample(u8, sample, 6)),
                                     protocol)
    assert with_fg["box"][0].tolist() == [1.0, 1.0, 3.0, 2.0]  # x = axis 1 (1..3), y = axis 0
    assert with_fg["meta"][0]["case_id"] == "ct_007" and with_fg["meta"][0]["slice_index"] == 6
    empty = volumes.slice_sample(u8, sample, 0)
    box = batches.original_batch(empty, data.sample_prompt(empty), protocol)["box"]
    assert torch.isnan(box).all()  # a slice without the organ: no prompt to give
