"""M-SAM's click simulation (``utils/click_method.get_next_click3D_torch_2``), our code.

One click per item from the current error region of the thresholded **probabilities** (the
reference thresholds logits at 0.5, i.e. probability 0.62; methods-spec Part 9 item 2): a voxel
drawn uniformly from false negatives united with false positives, labelled 1 when it is a false
negative and 0 otherwise. With an all-zero previous prediction the error region is the reference
itself (the first click is a random foreground voxel). An item without errors (an empty
reference predicted empty, or a perfect prediction) gets SAM's padding point (label -1).
Coordinates are voxel indices in tensor axis order ``(axis 0, axis 1, axis 2)``.
"""

from __future__ import annotations

import torch


def next_click(prob: torch.Tensor, gt: torch.Tensor, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``prob``, ``gt`` ``[B, 1, X, Y, Z]`` -> coords ``[B, 1, 3]``, labels int64 ``[B, 1]``."""
    pred, ref = prob > 0.5, gt > 0
    fn, fp = ref & ~pred, pred & ~ref
    coords = torch.zeros(prob.shape[0], 1, 3, device=prob.device)
    labels = torch.full((prob.shape[0], 1), -1, dtype=torch.long, device=prob.device)
    for i in range(prob.shape[0]):
        error = (fn[i, 0] | fp[i, 0]).nonzero()
        if len(error) == 0:
            continue
        pick = error[int(torch.randint(len(error), (1,), generator=generator))]
        coords[i, 0] = pick.float()
        labels[i, 0] = int(fn[i, 0][tuple(pick)])
    return coords, labels


def to_axis_order(points: torch.Tensor) -> torch.Tensor:
    """The harness's ``(x, y, z)`` clicks (x = array axis 1, y = axis 0; benchmarks.data.prompts)
    in tensor axis order ``(axis 0, axis 1, axis 2)``, which the model encodes."""
    return points[..., [1, 0, 2]]
