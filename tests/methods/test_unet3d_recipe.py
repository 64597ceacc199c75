"""unet3d follows nnU-Net's training recipe where it is implemented (issue 21 item 6), each piece
against its known answer (nnUNetTrainer: SGD Nesterov 0.99, deep-supervision weights with the
lowest resolution at 0, Dice on the foreground only + CE)."""

from __future__ import annotations

import pytest
import torch

from benchmarks.stages import train
from methods.unet3d import method as unet3d


def test_deep_supervision_weights_drop_the_lowest_resolution() -> None:
    assert unet3d.supervision_weights(3).tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert unet3d.supervision_weights(4).tolist() == pytest.approx(
        [1 / 1.75, 0.5 / 1.75, 0.25 / 1.75, 0.0])
    assert unet3d.supervision_weights(1).tolist() == [1.0]


def test_loss_is_foreground_dice_plus_cross_entropy() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 4, 4, 2)
    target = (torch.rand(2, 1, 4, 4, 2) > 0.6).long()
    prob = torch.softmax(logits, 1)
    fg, ref = prob[:, 1], target[:, 0].float()
    dice = 1 - (2 * (fg * ref).sum() + 1e-5) / (fg.sum() + ref.sum() + 1e-5)  # batch Dice
    ce = torch.nn.functional.cross_entropy(logits, target[:, 0])
    assert float(unet3d.loss_fn()(logits, target)) == pytest.approx(float(dice + ce), rel=1e-5)


def test_sgd_is_nesterov_with_momentum_0_99() -> None:
    cfg = unet3d.Config(variant="tiny", patch_size=[32, 32, 16])
    model = unet3d.build(cfg, None)
    opt = train.make_optimizer(model, unet3d, cfg)
    assert isinstance(opt, torch.optim.SGD)
    assert opt.defaults["momentum"] == 0.99 and opt.defaults["nesterov"] is True
    assert cfg.lr == 0.01 and cfg.weight_decay == 3e-5 and cfg.schedule == "poly"
