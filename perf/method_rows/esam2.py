"""Rows for ESAM2-BLS: no upstream predictor exists (the reference repository has no runnable
network, methods-spec 2.9), so the reference is the upstream part it is built on, the ``sam2``
Hiera trunk alone on the same normalised input: the ratio is the cost of the adapters, MSIF
bottleneck, U-decoder and the harness's resizing on top of the frozen trunk."""

from __future__ import annotations

import torch

from perf.method_rows import Row, test_image

SIZE = 256  # methods-spec 2.3: ESAM2-BLS trains and predicts at 256


def _esam2(backbone: str) -> tuple:
    from methods.esam2_bls import method

    cfg = method.Config(variant="tiny", backbone=backbone, image_size=SIZE)
    model = method.build(cfg, None).eval()
    _, image, box = test_image()
    batch = {"image": image, "box": torch.tensor([box]), "meta": [{"case_id": "perf"}]}
    x = method.normalise(image, SIZE)
    return (lambda: method.predict(model, batch, cfg)), (lambda: model.trunk(x)[-1])


ROWS = [Row(f"esam2_bls {b} @{SIZE}", "sam2 Hiera trunk alone", lambda b=b: _esam2(b),
            same_output=False) for b in ("hiera_t", "hiera_l")]
