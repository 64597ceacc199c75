"""The "learns" check of a trainable method (issue 21): its tiny variant, trained by the real train
stage for a fixed small budget on the synthetic set, then predicted by the real predict path on
its own training cases. Dice there must be clearly above an all-empty prediction and above the
same model untrained (same seed, same build), or the method cannot learn (a loss with the wrong
sign, a frozen head, a prediction that ignores the weights, a train/test geometry mismatch).

Dice is the mean over the training cases that hold a lesion (an all-empty prediction scores 0
on each of them; lesion-free images would reward predicting nothing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.core import registry
from benchmarks.data.batches import seed_everything
from benchmarks.runs import config
from benchmarks.scoring import metrics
from benchmarks.stages import cases, predict, train


@dataclass(frozen=True)
class Learned:
    """Mean Dice on the training cases with a lesion: all-empty, untrained and trained."""

    empty: float
    untrained: float
    trained: float
    seconds: float  # train + both predictions

    def __str__(self) -> str:
        return (f"Dice on training lesions: all-empty {self.empty:.3f}, untrained "
                f"{self.untrained:.3f}, trained {self.trained:.3f} ({self.seconds:.0f} s)")


def mean_dice(cfg, model, module, mcfg, data: cases.RunData, ids: list[str]) -> float:
    """Mean Dice of the harness's thresholded predictions (``cfg.eval.threshold``) over ``ids``."""
    patched = cases.uses_patches(cfg, data)
    device = torch.device("cpu")
    scores = []
    for case_id in ids:
        pred = predict.predict_case(module, model, mcfg, data, case_id, device,
                                    cfg.eval.threshold, patched)
        scores.append(metrics.dice(pred, data.load(case_id).mask))
    return float(np.mean(scores))


def lesion_cases(data: cases.RunData, fold: int = 0) -> list[str]:
    """Training cases of ``fold`` whose reference holds foreground."""
    return [c for c in data.case_ids(fold, "train") if data.load(c).mask.any()]


def untrained_model(cfg, init: Path | None = None):
    """The model the train stage starts from (same seed, same build, earlier phase loaded)."""
    seed_everything(cfg.seed)
    module = registry.import_method(config.method_id(cfg))
    mcfg = train.for_phase(module, config.method_cfg(cfg))
    model = module.build(mcfg, None)
    train.start_from(model, init)
    return module, mcfg, model.eval()


def learns(overrides: list[str], out: Path, init: Path | None = None) -> Learned:
    """Train one cell with ``overrides`` into ``out`` and score it on its training lesions."""
    start = time.perf_counter()
    cfg = config.compose_run([*overrides, "device=cpu"])
    data = cases.open_run(cfg)
    ids = lesion_cases(data, cfg.fold)
    assert ids, "the synthetic training fold has no lesion"
    module, mcfg, model = untrained_model(cfg, init)
    with torch.no_grad():
        before = mean_dice(cfg, model, module, mcfg, data, ids)
    train.run(cfg, out, init=init)
    module, mcfg, model = predict.load_trained(cfg, out / "model.pt")
    with torch.no_grad():
        after = mean_dice(cfg, model, module, mcfg, data, ids)
    empty = float(np.mean([metrics.dice(np.zeros_like(m), m)
                           for m in (data.load(c).mask for c in ids)]))
    return Learned(empty, before, after, time.perf_counter() - start)


def assert_learns(result: Learned, floor: float, margin: float) -> None:
    """Trained Dice at least ``floor`` and at least ``margin`` above untrained and all-empty."""
    print(result)  # the figures, in the test log (pytest -s) and the closing note
    assert result.trained >= floor, result
    assert result.trained >= result.untrained + margin, result
    assert result.trained >= result.empty + margin, result
