"""One geometry per method in training and at test (issue 21 item 2): the harness letterboxes
training items for cards with ``resize: letterbox`` (aspect kept, longest side image_size, zero
padding bottom/right), the geometry SamProcessor (SMA) and torchvision's detection transform
(resnet_seg) give original-size images at predict."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.core import registry
from benchmarks.data import batches, prompts
from benchmarks.data.base import Sample

SIZE = 64


def _sample(height: int = 75, width: int = 100) -> Sample:
    """A smooth non-square image (resampling filters then differ little; the geometry shows)."""
    yy, xx = np.mgrid[:height, :width]
    grey = 0.5 + 0.25 * np.sin(xx / 9.0) + 0.25 * np.cos(yy / 7.0)
    image = np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=2)
    mask = np.zeros((height, width), bool)
    mask[20:60, 15:70] = True
    return Sample("c", image, mask, None)


def test_letterbox_keeps_aspect_and_pads_bottom_right() -> None:
    sample = _sample()
    protocol = prompts.parse_protocol("box0")
    item = batches.resized(sample, SIZE, False, {"box": [15, 20, 69, 59]}, protocol,
                           geometry="letterbox")
    assert item["meta"]["content_shape"] == (48, 64)  # 75 x 100 * 0.64
    assert item["image"].shape == (3, SIZE, SIZE) and item["mask"].shape == (1, SIZE, SIZE)
    assert float(item["image"][:, 48:].abs().max()) == 0.0  # padding below the content
    rows, cols = np.nonzero(item["mask"][0].numpy())
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (13, 38, 10, 44)
    assert torch.allclose(item["box"], torch.tensor([15, 20, 69, 59]) * 0.64)
    flipped = batches.resized(sample, SIZE, True, {"box": [15, 20, 69, 59]}, protocol,
                              geometry="letterbox")
    assert torch.equal(flipped["image"][:, :48], item["image"][:, :48].flip(-1))  # content only
    assert float(flipped["image"][:, 48:].abs().max()) == 0.0
    assert torch.allclose(flipped["box"][[0, 2]], 63 - item["box"][[2, 0]])
    squash = batches.resized(sample, SIZE, geometry="squash")
    assert squash["meta"]["content_shape"] == (SIZE, SIZE)


def test_cards_name_their_upstream_geometry() -> None:
    assert registry.read_card("sma")["resize"] == "letterbox"  # SamProcessor
    assert registry.read_card("resnet_seg")["resize"] == "letterbox"  # GeneralizedRCNNTransform
    assert registry.read_card("ultra_refiner").get("resize", "squash") == "squash"  # 224 squares


def test_sma_sees_one_geometry_in_training_and_at_predict() -> None:
    from methods.sma import method as sma

    cfg = sma.Config(variant="tiny", image_size=SIZE)
    torch.manual_seed(0)
    model = sma.build(cfg, None)
    sample = _sample()
    box = {"box": [15, 20, 69, 59]}
    protocol = prompts.parse_protocol("box0")
    train = batches.collate([batches.resized(sample, SIZE, False, box, protocol,
                                             geometry="letterbox")])
    test = batches.original_batch(sample, box, protocol)
    seen = [sma._inputs(model, train), sma._inputs(model, test)]
    assert seen[0]["reshaped_input_sizes"].tolist() == seen[1]["reshaped_input_sizes"].tolist() \
        == [[48, 64]]
    assert torch.allclose(seen[0]["input_boxes"], seen[1]["input_boxes"], atol=0.5)
    content = [s["pixel_values"][0, :, :48] for s in seen]
    assert float((content[0] - content[1]).abs().mean()) < 0.05  # resampling filters only
    assert torch.equal(seen[0]["pixel_values"][0, :, 48:], seen[1]["pixel_values"][0, :, 48:])


def test_mask_rcnn_sees_one_geometry_in_training_and_at_predict() -> None:
    from methods.resnet_seg import method as resnet

    cfg = resnet.Config(variant="tiny", backbone="resnet18", image_size=SIZE)
    torch.manual_seed(0)
    model = resnet.build(cfg, None)
    seen: list[torch.Tensor] = []
    model.backbone.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    sample = _sample()
    item = batches.resized(sample, SIZE, geometry="letterbox")
    resnet.train_step(model.train(), batches.collate([item]), cfg)
    with torch.no_grad():
        resnet.predict(model.eval(), batches.original_batch(sample), cfg)
    assert seen[0].shape == seen[1].shape == (1, 3, SIZE, SIZE)
    assert float((seen[0][..., :48, :] - seen[1][..., :48, :]).abs().mean()) < 0.05
    assert torch.equal(seen[0][..., 48:, :], seen[1][..., 48:, :])  # the same zero padding
