"""The plug-in contract of 3D patch methods (card ``dims: [3d]``, ``volumes: patches``) on CPU
with their tiny variant: 3D batches of the harness's patches from the synthetic CT set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.core import registry
from benchmarks.data import batches, patches
from benchmarks.runs import config
from benchmarks.stages import cases, train

PATCH_METHODS = [m for m in registry.list_methods()
                 if registry.read_card(m).get("volumes") == "patches"]
PATCH = [32, 32, 16]


def _setup(method: str, ct_split: list[str]):
    cfg = config.compose_run([*ct_split, f"method={method}", "method.variant=tiny",
                              f"method.patch_size=[{','.join(map(str, PATCH))}]"])
    data = cases.open_run(cfg)
    assert cases.uses_patches(cfg, data)
    return registry.import_method(method), config.method_cfg(cfg), data


def _batch(mcfg, data: cases.RunData, seed: int = 0) -> dict:
    volumes = patches.training_volumes(data, data.case_ids(0, "train"), mcfg)
    return next(patches.training_batches(volumes, mcfg, 0.5, seed))


@pytest.mark.parametrize("method", PATCH_METHODS)
def test_card_declares_3d_patches(method: str) -> None:
    card = registry.read_card(method)
    assert card["dims"] == ["3d"] and card["volumes"] == "patches"


@pytest.mark.parametrize("method", PATCH_METHODS)
def test_train_step_gives_finite_loss_and_gradients(method: str, ct_split: list[str]) -> None:
    module, mcfg, data = _setup(method, ct_split)
    batch = _batch(mcfg, data)
    assert batch["image"].shape == (2, 1, *PATCH) and batch["mask"][1].any()  # forced fg item
    batches.seed_everything(0)
    model = module.build(mcfg, None).train()
    out = module.train_step(model, batch, mcfg)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("method", PATCH_METHODS)
def test_predict_shape_range_and_seed(method: str, ct_split: list[str]) -> None:
    module, mcfg, data = _setup(method, ct_split)
    batch = _batch(mcfg, data)
    outputs = []
    for _ in range(2):
        batches.seed_everything(3)
        model = module.build(mcfg, None).eval()
        with torch.no_grad():
            outputs.append(module.predict(model, batch, mcfg))
    prob = outputs[0]
    assert prob.shape == (2, 1, *PATCH) and prob.dtype == torch.float32
    assert float(prob.min()) >= 0.0 and float(prob.max()) <= 1.0
    assert torch.equal(outputs[0], outputs[1])


@pytest.mark.parametrize("method", PATCH_METHODS)
def test_whole_volume_prediction_at_original_shape(method: str, ct_split: list[str],
                                                   tmp_path: Path) -> None:
    module, mcfg, data = _setup(method, ct_split)
    batches.seed_everything(0)
    model = module.build(mcfg, None).eval()
    case_id = data.case_ids(0, "test")[0]
    prob = patches.predict_case(module, model, mcfg, data, case_id, torch.device("cpu"))
    assert prob.shape == data.load(case_id).mask.shape == (48, 48, 20)
    assert np.isfinite(prob).all() and prob.min() >= 0 and prob.max() <= 1
    cfg = config.compose_run([*ct_split, f"method={method}", "method.variant=tiny",
                              "method.max_steps=2", "device=cpu"])
    info = train.run(cfg, tmp_path)
    assert info["volumes"]["volume_input"] == "patches" and info["volumes"]["sw_overlap"] == 0.5
