"""Rows for the SAM v1 methods (segment-anything and transformers SAM), tiny CPU size."""

from __future__ import annotations

import torch

from perf.method_rows import Row, box_predictor_call, test_image

SIZE = 256  # input size of every row (CPU-sized; the real models take 1024)


def _batch(image: torch.Tensor, box: list[float]) -> dict:
    return {"image": image, "box": torch.tensor([box]), "meta": [{"case_id": "perf"}]}


def _sam(variant: str = "tiny", backbone: str = "vit_b") -> tuple:
    from segment_anything import SamPredictor

    from methods.sam_zeroshot import method

    cfg = method.Config(variant=variant, backbone=backbone, image_size=SIZE)
    model = method.build(cfg, None).eval()
    rgb, image, box = test_image()
    batch, predictor = _batch(image, box), SamPredictor(model)
    return (lambda: method.predict(model, batch, cfg)), box_predictor_call(predictor, rgb, box)


def _medsam() -> tuple:
    from methods._sam1 import infer
    from methods.medsam_zeroshot import method

    cfg = method.Config(variant="tiny", image_size=SIZE)
    model = method.build(cfg, None).eval()
    _, image, box = test_image()
    batch = _batch(image, box)
    # MedSAM has no installable predictor: the reference is MedSAM_Inference.py's steps called on
    # segment-anything's modules directly (infer.medsam_probabilities), without our batch handling.
    return (lambda: method.predict(model, batch, cfg)), (
        lambda: infer.medsam_probabilities(model, image[0], torch.tensor(box))[None])


def _sma(variant: str = "tiny", backbone: str = "vit_b") -> tuple:
    from methods.sma import method

    cfg = method.Config(variant=variant, backbone=backbone, image_size=SIZE)
    model = method.build(cfg, None).eval()
    rgb, image, box = test_image()
    batch, proc = _batch(image, box), method.processor(SIZE)

    def upstream() -> torch.Tensor:
        inputs = proc(images=rgb, input_boxes=[[box]], return_tensors="pt")
        out = model(pixel_values=inputs["pixel_values"], input_boxes=inputs["input_boxes"],
                    multimask_output=False)
        masks = proc.image_processor.post_process_masks(
            out.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"],
            binarize=False)
        return torch.sigmoid(masks[0])

    return (lambda: method.predict(model, batch, cfg)), upstream


ROWS = [
    Row("sam_zeroshot tiny", "SamPredictor.set_image + predict", _sam),
    Row("medsam_zeroshot tiny", "MedSAM_Inference steps", _medsam),
    Row("sma tiny", "SamModel + SamProcessor", _sma),
    # the real ViT-B encoder at the tiny input size: the encoder dominates, as on real runs
    Row("sam_zeroshot vit_b @256", "SamPredictor.set_image + predict",
        lambda: _sam("base", "vit_b")),
    Row("sma vit_b @256", "SamModel + SamProcessor", lambda: _sma("base", "vit_b")),
]
