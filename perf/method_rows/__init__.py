"""Rows of ``perf/methods.py``: one module per method family, each with a ``ROWS`` list.

A row times one method's ``predict`` (the harness's call, original-size image in, probabilities
out) against the upstream predictor it wraps, on the same weights and input. Add a module here
(e.g. ``sam2.py``) with ``ROWS = [Row(...), ...]``; ``perf/methods.py`` finds it by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Predict = Callable[[], torch.Tensor]  # probabilities [1, 1, H, W] at the original size


@dataclass(frozen=True)
class Row:
    """``setup()`` builds the model once and returns ``(ours, upstream)`` zero-argument calls."""

    method: str  # method id (and backbone/variant), as printed
    upstream: str  # the upstream predictor, as printed
    setup: Callable[[], tuple[Predict, Predict]]
    # False where no upstream predictor exists and the reference is a part of our model (its
    # upstream trunk alone): the ratio is then our method's cost over that part, with no diff
    same_output: bool = True


def test_image(height: int = 300, width: int = 400, seed: int = 0) -> tuple:
    """A random uint8 RGB image, the same as a float Batch image, and a box inside it."""
    import numpy as np

    rgb = (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)
    image = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255)[None]
    box = [0.15 * width, 0.2 * height, 0.7 * width, 0.75 * height]
    return rgb, image, box


def box_predictor_call(predictor, rgb, box: list[float]) -> Predict:
    """The upstream call of a ``SamPredictor`` or ``SAM2ImagePredictor`` (they share the API):
    encode the image, one box, single mask, probabilities ``[1, 1, H, W]``."""
    import numpy as np

    def upstream() -> torch.Tensor:
        predictor.set_image(rgb)
        logits, _, _ = predictor.predict(box=np.array(box), multimask_output=False,
                                         return_logits=True)
        return torch.sigmoid(torch.from_numpy(logits))[None]

    return upstream
