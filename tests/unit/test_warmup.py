"""The optional Config.warmup_steps of the harness schedule (resnet_seg: torchvision's detection
reference warm-up, without which a random-init Mask R-CNN diverged at step 12; issue 21)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from benchmarks.stages import train


def test_warmup_ramps_from_a_thousandth_of_the_lr() -> None:
    """torchvision's detection warm-up (LinearLR start_factor 0.001) on top of the cosine."""
    cfg = SimpleNamespace(lr=0.01, max_steps=100, warmup_steps=10)
    factor = train.cosine_factor(cfg)
    assert factor(0) == pytest.approx(1e-3)
    assert factor(5) == pytest.approx((1e-3 + 0.999 * 0.5) * train.cosine_factor(
        SimpleNamespace(lr=0.01, max_steps=100))(5))
    assert factor(50) == pytest.approx(0.5)  # past the warm-up: the plain cosine
