"""One threshold rule: foreground = probability strictly above 0.5 (methods-spec Part 9), pinned at
exactly 0.5 in every place that binarises (results/README.md, Metric conventions)."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.stages import predict

HALF = np.float32(0.5)
ABOVE = np.nextafter(HALF, np.float32(1))  # the smallest float32 above 0.5
BELOW = np.nextafter(HALF, np.float32(0))


def test_predict_stage_keeps_only_probabilities_strictly_above_the_threshold() -> None:
    prob = np.array([[BELOW, HALF, ABOVE, 1.0]], np.float32)
    assert predict.thresholded(prob, 0.5).tolist() == [[False, False, True, True]]


def test_resampled_training_masks_use_the_same_strict_rule() -> None:
    from types import SimpleNamespace

    from benchmarks.data import patches
    from benchmarks.data.base import Sample

    # a 4-voxel window at 0.5 mm resampled to a 2-voxel patch at 1 mm: linear weights 1/2, 1/2,
    # so the mask 0,1,1,1 becomes exactly 0.5, 1.0 (the first voxel sits on the threshold)
    mask = np.array([0, 1, 1, 1], bool).reshape(4, 1, 1)
    sample = Sample("c", np.zeros((4, 1, 1), np.float32), mask, (0.5, 1.0, 1.0))
    mcfg = SimpleNamespace(target_spacing=[1.0, 1.0, 1.0], patch_size=[2, 1, 1])
    soft = patches.resample(torch.from_numpy(mask.astype(np.float32))[None, None], (2, 1, 1))
    assert soft.flatten().tolist() == [0.5, 1.0]
    _, patch_mask = patches.training_patch(sample, mcfg, False, np.random.default_rng(0))
    assert patch_mask.flatten().tolist() == [0, 1]


def test_mask_rcnn_drops_an_instance_scored_exactly_at_the_threshold() -> None:
    from methods.resnet_seg import method as resnet

    cfg = resnet.Config(variant="tiny", backbone="resnet18")

    def fake(images):  # two instances: scores exactly 0.5 and just above
        masks = torch.zeros(2, 1, 4, 4)
        masks[0, 0, 0] = 0.9
        masks[1, 0, 3] = 0.75
        return [{"scores": torch.tensor([0.5, float(ABOVE)]), "masks": masks}]

    prob = resnet.predict(fake, {"image": torch.zeros(1, 3, 4, 4)}, cfg)
    assert prob[0, 0, 0].tolist() == [0.0] * 4  # the 0.5-score instance is not merged
    assert prob[0, 0, 3].tolist() == [0.75] * 4
