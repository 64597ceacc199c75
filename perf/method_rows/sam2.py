"""Rows for zero-shot SAM2 (``sam2`` 1.1.0): our ``predict`` against ``SAM2ImagePredictor``
(``set_image`` + ``predict(box, return_logits=True)``) on the same random-init SAM2.1 model at a
CPU-sized input (variant tiny: the predictor's 1024 feature sizes replaced, cpu-feasibility 3.2)."""

from __future__ import annotations

import warnings

import torch

from perf.method_rows import Row, box_predictor_call, test_image

SIZE = 256  # input size of every row (CPU-sized; the real models take 1024)


def _sam2(backbone: str) -> tuple:
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    from methods import _sam2
    from methods.sam2_zeroshot import method

    cfg = method.Config(variant="tiny", backbone=backbone, image_size=SIZE)
    model = method.build(cfg, None).eval()
    rgb, image, box = test_image()
    batch = {"image": image, "box": torch.tensor([box]), "meta": [{"case_id": "perf"}]}
    with warnings.catch_warnings():  # SAM2Transforms uses torch.jit.script (cpu-feasibility 10.6)
        warnings.simplefilter("ignore", FutureWarning)
        predictor = SAM2ImagePredictor(model)
    predictor._bb_feat_sizes = _sam2.feature_sizes(SIZE)
    return (lambda: method.predict(model, batch, cfg)), box_predictor_call(predictor, rgb, box)


ROWS = [Row(f"sam2_zeroshot {b} @{SIZE}", "SAM2ImagePredictor", lambda b=b: _sam2(b))
        for b in ("hiera_t", "hiera_l")]
