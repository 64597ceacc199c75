"""The predict path of the interactive protocol (``box<J>clicks<N>``): a box, then N clicks.

For each image the method's ``encode`` runs once and its ``decode`` once per round on the cached
features (methods/_api.py, "Interactive methods"). Round 0 is the box alone; before round k the
harness places one click from the method's own round k-1 mask (:mod:`benchmarks.data.clicks`) and
passes the box, every click so far and the method's own previous probabilities.

Volumes with a 2D method (``volumes: slices``): the click is placed in 3D (26-connectivity over the
stacked volume) and lands on one slice z; only slice z is decoded again, with its box, the clicks
so far that lie on it and its own previous probabilities; the other slices keep their masks (their
prompts did not change). A slice is encoded the first time it is decoded (every slice with a box
in round 0, a box-less slice only if a click lands on it), never twice.

A round whose prediction has no error gets no click and keeps its prediction (the anchor reruns
its model with unchanged prompts; a clinician with nothing to correct waits for nothing).

Per round the log records the click (position in prompt convention, label, EDT depth, ties and
the tie-break seed) and three times: ``click_seconds`` (ours: error, components, EDT),
``decode_seconds`` (the method) and ``seconds`` (both plus bookkeeping: what a user waits).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from benchmarks.data import batches, clicks, volumes
from benchmarks.data.base import Sample

ROUND_COLUMNS = ["case_id", "round", "click_x", "click_y", "click_z", "click_label",
                 "click_distance", "click_ties", "click_component", "click_seed",
                 "n_encodes", "click_seconds", "decode_seconds", "seconds"]


class InteractiveError(RuntimeError):
    """A method that cannot run the interactive protocol (no encode/decode split)."""


def check_module(module: Any, method_id: str) -> None:
    """The method must split encode and decode (the encoder runs once per image)."""
    if not (hasattr(module, "encode") and hasattr(module, "decode")):
        raise InteractiveError(f"methods/{method_id}/method.py has no encode/decode split; the "
                               "interactive protocol needs it (methods/_api.py)")


def _log(case_id: str, rnd: int, click: clicks.Click | None, timing: tuple[float, float, float],
         n_encodes: int) -> dict[str, Any]:
    point = click.point() if click else []
    return {"case_id": case_id, "round": rnd,
            "click_x": point[0] if point else None, "click_y": point[1] if point else None,
            "click_z": point[2] if len(point) > 2 else None,
            "click_label": click.label if click else None,
            "click_distance": click.distance if click else None,
            "click_ties": click.n_ties if click else None,
            "click_component": click.component_size if click else None,
            "click_seed": click.seed if click else None, "n_encodes": n_encodes,
            "click_seconds": round(timing[0], 6), "decode_seconds": round(timing[1], 6),
            "seconds": round(timing[2], 6)}


class _Image:
    """One 2D image (or slice): its batch, cached features, clicks so far, last probabilities."""

    def __init__(self, batch: dict[str, Any]) -> None:
        self.batch, self.features = batch, None
        self.points: list[list[int]] = []
        self.labels: list[int] = []
        self.prob: np.ndarray | None = None

    def decode(self, module: Any, model: Any, mcfg: Any,
               check: Callable[[torch.Tensor, tuple[int, ...]], np.ndarray]) -> tuple[np.ndarray,
                                                                                       int]:
        """Decode with every prompt so far (encoding first if never encoded); return the
        probabilities and how many encoder passes this call made (0 or 1)."""
        encoded = 0
        with torch.no_grad():
            if self.features is None:
                self.features, encoded = module.encode(model, self.batch, mcfg), 1
            batch = dict(self.batch)
            if self.points:
                device = batch["image"].device
                batch["points"] = torch.tensor([self.points], dtype=torch.float32, device=device)
                batch["point_labels"] = torch.tensor([self.labels], dtype=torch.int64,
                                                     device=device)
                batch["previous"] = torch.from_numpy(self.prob.astype(np.float32))[
                    None, None].to(device)
            self.prob = check(module.decode(model, self.features, batch, mcfg),
                              tuple(self.batch["image"].shape[-2:]))
        return self.prob, encoded


def image_rounds(module: Any, model: Any, mcfg: Any, batch: dict[str, Any], ref: np.ndarray,
                 n_clicks: int, threshold: float, check: Callable, seed: int = clicks.CLICK_SEED
                 ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Masks of rounds 0..n of one 2D image and their logs (case id from the batch's meta)."""
    case_id = batch["meta"][0]["case_id"]
    image = _Image(batch)
    start = time.perf_counter()
    prob, n_enc = image.decode(module, model, mcfg, check)
    masks = [prob >= threshold]
    elapsed = time.perf_counter() - start
    logs = [_log(case_id, 0, None, (0.0, elapsed, elapsed), n_enc)]
    for rnd in range(1, n_clicks + 1):
        start = time.perf_counter()
        click = clicks.next_click(masks[-1], ref, seed)
        click_s = time.perf_counter() - start
        decode_s = 0.0
        if click is None:
            masks.append(masks[-1])
        else:
            image.points.append(click.point())
            image.labels.append(click.label)
            tick = time.perf_counter()
            prob, n_enc = image.decode(module, model, mcfg, check)
            decode_s = time.perf_counter() - tick
            masks.append(prob >= threshold)
        logs.append(_log(case_id, rnd, click, (click_s, decode_s, time.perf_counter() - start),
                         n_enc if click else 0))
    return masks, logs


def volume_rounds(module: Any, model: Any, mcfg: Any, sample: Sample, slice_batch: Callable,
                  n_clicks: int, threshold: float, check: Callable, window: Any,
                  seed: int = clicks.CLICK_SEED) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Masks of rounds 0..n of one volume seen slice by slice (``slice_batch(slice_sample)``
    gives a slice's batch with its pinned prompt), and their logs."""
    volume_u8 = volumes.to_uint8(sample.image, window)
    depth = sample.mask.shape[volumes.SLICE_AXIS]
    images = {z: _Image(slice_batch(volumes.slice_sample(volume_u8, sample, z)))
              for z in range(depth)}
    mask = np.zeros(sample.mask.shape, bool)
    start, n_enc = time.perf_counter(), 0
    for z, image in images.items():
        if not torch.isnan(image.batch["box"]).any():  # no box: empty by the box protocol
            prob, enc = image.decode(module, model, mcfg, check)
            mask[:, :, z], n_enc = prob >= threshold, n_enc + enc
    elapsed = time.perf_counter() - start
    masks, logs = [mask], [_log(sample.case_id, 0, None, (0.0, elapsed, elapsed), n_enc)]
    for rnd in range(1, n_clicks + 1):
        start = time.perf_counter()
        click = clicks.next_click(masks[-1], sample.mask, seed)
        click_s, decode_s, enc = time.perf_counter() - start, 0.0, 0
        mask = masks[-1].copy()
        if click is not None:
            x, y, z = click.point()
            image = images[z]
            if image.prob is None:  # never decoded: its previous round predicted it empty
                image.prob = np.zeros(sample.mask.shape[:2], np.float32)
            image.points.append([x, y])
            image.labels.append(click.label)
            tick = time.perf_counter()
            prob, enc = image.decode(module, model, mcfg, check)
            decode_s = time.perf_counter() - tick
            mask[:, :, z] = prob >= threshold
        masks.append(mask)
        logs.append(_log(sample.case_id, rnd, click,
                         (click_s, decode_s, time.perf_counter() - start), enc))
    return masks, logs


def batch_for(sample: Sample, prompt: dict[str, Any] | None, protocol: Any,
              device: torch.device) -> dict[str, Any]:
    """The round-0 batch of one image or slice at its original size (box only)."""
    return batches.to_device(batches.original_batch(sample, prompt, protocol), device)


def predict_case(module: Any, model: Any, mcfg: Any, data: Any, case_id: str,
                 device: torch.device, threshold: float, check: Callable
                 ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Rounds 0..n of one case of the run (2D image, or a volume slice by slice)."""
    sample = data.load(case_id)
    n_clicks = data.protocol.clicks
    if not data.is_volume:
        batch = batch_for(sample, data.sample_prompt(sample), data.protocol, device)
        return image_rounds(module, model, mcfg, batch, sample.mask, n_clicks, threshold, check)
    return volume_rounds(
        module, model, mcfg, sample,
        lambda s: batch_for(s, data.sample_prompt(s), data.protocol, device), n_clicks,
        threshold, check, volumes.window_of(data.dcfg, mcfg))
