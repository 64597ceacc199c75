"""nnU-Net's rule for a 3D U-Net's topology from the target spacing and the patch size (pure).

Isensee et al. 2021 (nnU-Net), ``experiment_planning``'s ``get_pool_and_conv_props``, in the form
of MONAI's DynUNet tutorial (``get_kernels_strides``): at every level

- an axis is pooled (stride 2) only while its current spacing is at most twice the smallest
  current spacing (anisotropy: the coarse axis waits until the fine ones catch up), and only while
  its feature map is at least ``2 * min_size`` (so no map edge drops below ``min_size``; nnU-Net
  uses 4 for 3D);
- the convolution is 3 along axes within a factor 2 of the finest spacing, 1 along the others
  (no mixing across thick slices before pooling has evened out the spacing);
- pooling stops when no axis can be pooled; the bottleneck gets a 3x3x3 kernel.

The first level has stride 1 (DynUNet's input block), so ``len(kernels) == len(strides)``.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_FEATURE_MAP = 4  # nnU-Net's FEATUREMAP_MIN_EDGE_LENGTH for 3D networks


class PlanError(ValueError):
    """A patch size the U-Net cannot pool evenly."""


def kernels_and_strides(spacing: Sequence[float], patch: Sequence[int],
                        min_size: int = MIN_FEATURE_MAP
                        ) -> tuple[list[list[int]], list[list[int]]]:
    """DynUNet ``kernel_size`` and ``strides`` lists for ``patch`` voxels at ``spacing`` mm.

    Raises:
        PlanError: when a pooled axis has an odd size (the decoder could not restore it).
    """
    if len(spacing) != len(patch) or min(spacing) <= 0 or min(patch) < 1:
        raise PlanError(f"spacing {list(spacing)} and patch {list(patch)}: give one positive "
                        "value per axis")
    spacing, sizes = [float(s) for s in spacing], [int(p) for p in patch]
    kernels, strides = [], [[1] * len(sizes)]
    while True:
        finest = min(spacing)
        ratio = [s / finest for s in spacing]
        stride = [2 if r <= 2 and n >= 2 * min_size else 1
                  for r, n in zip(ratio, sizes, strict=True)]
        kernels.append([3 if r <= 2 else 1 for r in ratio])
        if all(s == 1 for s in stride):
            break
        if any(n % s for n, s in zip(sizes, stride, strict=True)):
            raise PlanError(f"patch {list(patch)}: size {sizes} at level {len(strides) - 1} is "
                            "odd along a pooled axis; use a patch divisible by 2**levels")
        sizes = [n // s for n, s in zip(sizes, stride, strict=True)]
        spacing = [sp * s for sp, s in zip(spacing, stride, strict=True)]
        strides.append(stride)
    kernels[-1] = [3] * len(sizes)  # the bottleneck: always 3x3x3 (nnU-Net)
    return kernels, strides
