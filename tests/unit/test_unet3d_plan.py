"""nnU-Net's kernel/stride rule (methods/unet3d/plan.py) against hand-worked plans."""

from __future__ import annotations

import pytest

from methods.unet3d.plan import PlanError, kernels_and_strides

K3, K331, K133 = [3, 3, 3], [3, 3, 1], [1, 3, 3]
S1 = [1, 1, 1]


def test_isotropic_pools_every_axis_down_to_four() -> None:
    # 32 -> 16 -> 8 -> 4: three poolings, then 4 < 2 * 4 stops
    kernels, strides = kernels_and_strides([1.0, 1.0, 1.0], [32, 32, 32])
    assert strides == [S1, [2, 2, 2], [2, 2, 2], [2, 2, 2]]
    assert kernels == [K3] * 4


def test_thick_slices_wait_until_the_fine_axes_catch_up() -> None:
    # spacing 0.8/0.8/2.5: z is 3.1x the finest -> pool x,y only, kernel 1 along z; then
    # 1.6/1.6/2.5 (ratio 1.56) pools all axes; 32x32x16 -> 16x16x16 -> 8x8x8 -> 4x4x4
    kernels, strides = kernels_and_strides([0.8, 0.8, 2.5], [32, 32, 16])
    assert strides == [S1, [2, 2, 1], [2, 2, 2], [2, 2, 2]]
    assert kernels == [K331, K3, K3, K3]


def test_first_axis_anisotropic_and_uneven_sizes() -> None:
    # spacing 5/1/1, patch 16x128x128:
    # ratio 5 -> [1,2,2] k133 (5,2,2); ratio 2.5 -> [1,2,2] k133 (5,4,4); ratio 1.25 -> all
    # (16,32,32 -> 8,16,16; spacing 10,8,8) -> all (4,8,8) -> x is at 4: [1,2,2] -> (4,4,4) stop
    kernels, strides = kernels_and_strides([5.0, 1.0, 1.0], [16, 128, 128])
    assert strides == [S1, [1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]]
    assert kernels == [K133, K133, K3, K3, K3, K3]


def test_exactly_twice_the_finest_spacing_still_pools() -> None:
    kernels, strides = kernels_and_strides([1.0, 1.0, 2.0], [16, 16, 16])
    assert strides == [S1, [2, 2, 2], [2, 2, 2]] and kernels == [K3, K3, K3]


def test_minimum_feature_map_of_eight() -> None:
    _, strides = kernels_and_strides([1.0, 1.0, 1.0], [64, 64, 32], min_size=8)
    assert strides == [S1, [2, 2, 2], [2, 2, 2], [2, 2, 1]]  # 8x8x8 after two, then 4 < 16


def test_odd_pooled_size_is_a_clear_error() -> None:
    with pytest.raises(PlanError, match="odd along a pooled axis"):
        kernels_and_strides([1.0, 1.0, 1.0], [36, 36, 36])  # 36 -> 18 -> 9, and 9 >= 8 pools


def test_mismatched_lengths_are_an_error() -> None:
    with pytest.raises(PlanError, match="one positive value per axis"):
        kernels_and_strides([1.0, 1.0], [32, 32, 32])
