"""The plug-in contract, checked for every registered method on CPU with its tiny variant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import batches, cases, check, config, registry, train
from tests.conftest import run_overrides

METHODS = registry.list_methods()


def _setup(method: str, bus_root: Path, bus_split: Path, *extra: str):
    cfg = config.compose_run(run_overrides(method, bus_root, bus_split, *extra))
    data = cases.open_run(cfg)
    module = registry.import_method(method)
    return module, config.method_cfg(cfg), data


def _train_batch(data: cases.RunData, size: int) -> dict:
    ids = data.case_ids(0, "train")[:2]
    return batches.collate([batches.resized(data.load(i), size) for i in ids])


def _build(module, mcfg, seed: int = 0):
    batches.seed_everything(seed)
    return module.build(mcfg, None)


@pytest.mark.parametrize("method", METHODS)
def test_card_is_valid(method: str) -> None:
    assert check.card_problems(method, registry.read_card(method)) == []


@pytest.mark.parametrize("method", METHODS)
def test_train_step_gives_finite_loss(method: str, bus_root: Path, bus_split: Path) -> None:
    module, mcfg, data = _setup(method, bus_root, bus_split)
    model = _build(module, mcfg).train()
    out = module.train_step(model, _train_batch(data, mcfg.image_size), mcfg)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert any(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("method", METHODS)
def test_frozen_parameters_do_not_change(method: str, bus_root: Path, bus_split: Path) -> None:
    module, mcfg, data = _setup(method, bus_root, bus_split)
    model = _build(module, mcfg).train()
    first = next(n for n, _ in model.named_parameters())
    mcfg.frozen = [first.rsplit(".", 1)[0] + "."]  # the module owning the first parameter
    counts = train.freeze(model, mcfg.frozen)
    assert 0 < counts["params_trainable"] < counts["params_total"]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = train.make_optimizer(model, module, mcfg)
    module.train_step(model, _train_batch(data, mcfg.image_size), mcfg)["loss"].backward()
    opt.step()
    after = dict(model.named_parameters())
    frozen = [n for n in before if n.startswith(tuple(mcfg.frozen))]
    assert frozen and all(torch.equal(before[n], after[n]) for n in frozen)
    assert any(not torch.equal(before[n], after[n]) for n in before if n not in frozen)


@pytest.mark.parametrize("method", METHODS)
def test_predict_shape_and_range(method: str, bus_root: Path, bus_split: Path) -> None:
    module, mcfg, data = _setup(method, bus_root, bus_split)
    model = _build(module, mcfg).eval()
    sample = data.load(data.case_ids(0, "test")[0])
    with torch.no_grad():
        prob = module.predict(model, batches.original_batch(sample), mcfg)
    assert prob.shape == (1, 1, *sample.mask.shape) and prob.dtype == torch.float32
    assert float(prob.min()) >= 0.0 and float(prob.max()) <= 1.0


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_output(method: str, bus_root: Path, bus_split: Path) -> None:
    module, mcfg, data = _setup(method, bus_root, bus_split)
    batch = _train_batch(data, mcfg.image_size)
    losses = []
    for _ in range(2):
        model = _build(module, mcfg, seed=3).train()
        losses.append(float(module.train_step(model, batch, mcfg)["loss"].detach()))
        sample = data.load(data.case_ids(0, "test")[0])
        with torch.no_grad():
            prob = module.predict(model.eval(), batches.original_batch(sample), mcfg)
        losses.append(prob.numpy())
    assert losses[0] == losses[2]
    assert np.array_equal(losses[1], losses[3])
