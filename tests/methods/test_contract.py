"""The plug-in contract, checked for every registered method on CPU with its tiny variant.

Prompted methods (card ``prompt: box|point``) get their pinned prompts in every batch, as the
harness gives them; zero-shot methods (card ``trainer: none``) are checked through the train
stage, which must record that nothing was trained and why.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks.core import registry, weights
from benchmarks.data import batches
from benchmarks.runs import config
from benchmarks.stages import cases, check, predict, train
from tests.conftest import prompt_overrides, run_overrides

ALL_METHODS = registry.list_methods()
# 2D batches on the synthetic BUS set; 3D-only methods (card dims: [3d], volumes: patches) take
# 3D batches and have their contract checked in tests/methods/test_contract3d.py
METHODS = [m for m in ALL_METHODS if "2d" in registry.read_card(m)["dims"]]
ZERO_SHOT = [m for m in METHODS if registry.read_card(m)["trainer"] == train.ZERO_SHOT]
TRAINED = [m for m in METHODS if m not in ZERO_SHOT]


def _overrides(method: str, bus_root: Path, bus_split: Path, bus_prompts: dict, *extra: str):
    return run_overrides(method, bus_root, bus_split, *prompt_overrides(method, bus_prompts),
                         *extra)


def _setup(method: str, bus_root: Path, bus_split: Path, bus_prompts: dict, *extra: str):
    cfg = config.compose_run(_overrides(method, bus_root, bus_split, bus_prompts, *extra))
    data = cases.open_run(cfg)
    module = registry.import_method(method)
    return module, config.method_cfg(cfg), data


def _train_batch(data: cases.RunData, size: int) -> dict:
    ids = data.case_ids(0, "train")[:2]
    return batches.collate([batches.resized(data.load(i), size, False, data.prompt(i),
                                            data.protocol) for i in ids])


def _test_batch(data: cases.RunData) -> tuple[dict, tuple[int, ...]]:
    """The original-size batch of the first test case with a lesion (so a prompt exists)."""
    for case_id in data.case_ids(0, "test"):
        sample = data.load(case_id)
        if sample.mask.any():
            return batches.original_batch(sample, data.prompt(case_id), data.protocol), \
                sample.mask.shape
    raise AssertionError("the synthetic test fold has no lesion")


def _build(module, mcfg, seed: int = 0):
    batches.seed_everything(seed)
    return module.build(mcfg, None)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_card_is_valid(method: str) -> None:
    assert check.card_problems(method, registry.read_card(method)) == []


@pytest.mark.parametrize("method", TRAINED)
def test_train_step_gives_finite_loss(method: str, bus_root: Path, bus_split: Path,
                                      bus_prompts: dict) -> None:
    module, mcfg, data = _setup(method, bus_root, bus_split, bus_prompts)
    model = _build(module, mcfg).train()
    out = module.train_step(model, _train_batch(data, mcfg.image_size), mcfg)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert any(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("method", TRAINED)
def test_frozen_parameters_do_not_change(method: str, bus_root: Path, bus_split: Path,
                                         bus_prompts: dict) -> None:
    module, mcfg, data = _setup(method, bus_root, bus_split, bus_prompts)
    model = _build(module, mcfg).train()
    if registry.read_card(method)["trainer"] == "fit":  # fit's optimizer=auto is ultralytics'
        mcfg.optimizer = "sgd"  # own; this one harness step takes the harness's optimiser
    frozen_already = tuple(mcfg.frozen)
    first = next(n for n, _ in model.named_parameters() if not n.startswith(frozen_already))
    mcfg.frozen = [*frozen_already, first.rsplit(".", 1)[0] + "."]  # + the first trained module
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
def test_predict_shape_and_range(method: str, bus_root: Path, bus_split: Path,
                                 bus_prompts: dict) -> None:
    module, mcfg, data = _setup(method, bus_root, bus_split, bus_prompts)
    model = _build(module, mcfg).eval()
    batch, shape = _test_batch(data)
    with torch.no_grad():
        prob = module.predict(model, batch, mcfg)
    assert prob.shape == (1, 1, *shape) and prob.dtype == torch.float32
    assert float(prob.min()) >= 0.0 and float(prob.max()) <= 1.0


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_output(method: str, bus_root: Path, bus_split: Path,
                               bus_prompts: dict) -> None:
    module, mcfg, data = _setup(method, bus_root, bus_split, bus_prompts)
    batch = _train_batch(data, mcfg.image_size)
    outputs = []
    for _ in range(2):
        model = _build(module, mcfg, seed=3).train()
        if method in TRAINED:
            outputs.append(float(module.train_step(model, batch, mcfg)["loss"].detach()))
        with torch.no_grad():
            outputs.append(module.predict(model.eval(), _test_batch(data)[0], mcfg).numpy())
    half = len(outputs) // 2
    if method in TRAINED:
        assert outputs[0] == outputs[half]
    assert np.array_equal(outputs[half - 1], outputs[-1])


@pytest.mark.parametrize("method", ZERO_SHOT)
def test_zero_shot_module_defines_no_training(method: str) -> None:
    module = registry.import_method(method)
    assert not hasattr(module, "train_step") and not hasattr(module, "fit")
    assert registry.read_card(method)["zero_shot_reason"].strip()


@pytest.mark.parametrize("method", ZERO_SHOT)
def test_zero_shot_train_stage_records_why(method: str, bus_root: Path, bus_split: Path,
                                           bus_prompts: dict, tmp_path: Path) -> None:
    cfg = config.compose_run(_overrides(method, bus_root, bus_split, bus_prompts, "device=cpu"))
    info = train.run(cfg, tmp_path)
    reason = registry.read_card(method)["zero_shot_reason"]
    saved = json.loads((tmp_path / "provenance.json").read_text())
    assert saved["trainer"] == "none" and saved["zero_shot_reason"] == reason == info[
        "zero_shot_reason"]
    assert saved["params_trainable"] == 0 < saved["params_total"]
    assert saved["weights"] == weights.RANDOM_INIT and saved["n_train_cases"] == 0
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert log.to_dict("records") == [{"steps": 0, "trained": False, "reason": reason}]
    assert (tmp_path / "config.resolved.yaml").exists()
    table = predict.run(cfg, tmp_path / "model.pt", tmp_path / "pred")
    assert (table["status"] == "ok").all() and len(table) == len(data_test_ids(cfg))


def data_test_ids(cfg) -> list[str]:
    return cases.open_run(cfg).case_ids(cfg.fold, "test")


@pytest.mark.parametrize("method", ZERO_SHOT)
def test_zero_shot_with_weights_keeps_a_checksum_not_a_copy(
        method: str, bus_root: Path, bus_split: Path, bus_prompts: dict, tmp_path: Path) -> None:
    module, mcfg, data = _setup(method, bus_root, bus_split, bus_prompts)
    source = _build(module, mcfg, seed=7)
    path = tmp_path / "pretrained.pth"
    torch.save(source.state_dict(), path)
    sha = weights.sha256_file(path)
    cfg = config.compose_run(_overrides(method, bus_root, bus_split, bus_prompts, "device=cpu",
                                        f"method.weights={path}", f"method.weights_sha256={sha}"))
    train.run(cfg, tmp_path / "train")
    saved = torch.load(tmp_path / "train" / "model.pt", weights_only=True)
    assert "state_dict" not in saved and saved["weights_sha256"] == sha
    _, _, model = predict.load_trained(cfg, tmp_path / "train" / "model.pt")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in source.state_dict().items())


@pytest.mark.parametrize("method", METHODS)
def test_throughput_input_runs_and_split_hooks_match_predict(method: str, bus_root: Path,
                                                              bus_split: Path,
                                                              bus_prompts: dict) -> None:
    """The throughput stage's synthetic batch (with the card's prompt kind) goes through
    ``predict``; where a method has the ``encode``/``decode`` split, it equals ``predict``."""
    from benchmarks.stages import throughput

    module, mcfg, _ = _setup(method, bus_root, bus_split, bus_prompts)
    model = _build(module, mcfg).eval()
    kind = registry.read_card(method).get("prompt", "none")
    batch = throughput.synthetic_batch(kind, 2, 64, torch.device("cpu"))
    with torch.no_grad():
        prob = module.predict(model, batch, mcfg)
        assert prob.shape == (2, 1, 64, 64)
        if not (hasattr(module, "encode") and hasattr(module, "decode")):
            pytest.skip(f"{method} has no encode/decode split (optional hook)")
        split = module.decode(model, module.encode(model, batch, mcfg), batch, mcfg)
    torch.testing.assert_close(split, prob)
