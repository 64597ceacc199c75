"""Rows for UltraRefiner: no upstream predictor to run (the reference code has no inference
entry point for one image, methods-spec 6.7), so the refined output (Phase 3's ``predict``:
TransUNet, differentiable prompts, SAM) is read against its own coarse output (Phase 1's
``predict``: the TransUNet alone) on the same model and image: the ratio is what the SAM
refiner adds per image. Tiny CPU variant (image_size 64, TransUNet and SAM at 64), random init.
"""

from __future__ import annotations

import dataclasses

from perf.method_rows import Row, test_image


def _ultra_refiner() -> tuple:
    from methods.ultra_refiner import method

    base = method.Config(variant="tiny", image_size=64)
    refined, coarse = (method.phase_config(dataclasses.replace(base, phase=p))
                       for p in ("joint", "coarse"))
    model = method.build(refined, None).eval()
    _, image, _ = test_image()
    batch = {"image": image, "meta": [{"case_id": "perf"}]}
    return (lambda: method.predict(model, batch, refined)), (
        lambda: method.predict(model, batch, coarse))


ROWS = [Row("ultra_refiner tiny @64: refined (Phase 3)", "its TransUNet alone: coarse (Phase 1)",
            _ultra_refiner, same_output=False)]
