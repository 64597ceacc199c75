"""The method plug-in contract (style guide B2).

A method is the folder ``methods/<id>/`` with ``card.yaml`` (static facts, readable without torch)
and ``method.py``, which must define:

- ``Config``: a dataclass of defaults. Required fields: ``variant``, ``backbone``, ``frozen``,
  ``lr``, ``weight_decay``, ``max_steps``, ``batch_size``, ``image_size``, ``weights``,
  ``weights_sha256``. Every default carries a trailing comment naming its source.
- ``build(cfg, weights_path) -> nn.Module``: the model on CPU. ``weights_path`` is ``None`` (random
  init) or a file the harness has already checked against ``cfg.weights_sha256``; it is read with
  :func:`read_checkpoint` and loaded strictly (see :func:`load_state_dict_strict`). Heads that are
  re-initialised on purpose are listed in ``model.reinitialised`` (key prefixes; set by
  :func:`load_state_strict`), which the harness records in provenance.
- ``train_step(model, batch, cfg) -> dict[str, Tensor]``: ``{"loss": scalar, ...}``; no backward, no
  optimiser, no logging: the harness owns those.
- ``predict(model, batch, cfg) -> Tensor``: probabilities in [0, 1], ``[B, 1, H, W]`` at the size of
  the images in ``batch`` (the harness passes original-size images and thresholds the result).
- optional ``fit(model, data, cfg, budget) -> (nn.Module, pandas.DataFrame)``: for upstream trainers
  that cannot be split into steps (ultralytics); returns the trained model and a per-epoch log. Its
  use is declared in ``card.yaml`` (``trainer: fit``) and justified in a comment in the method.
- optional ``param_groups(model, cfg)``: optimiser parameter groups.
- optional ``EXTRA_WEIGHTS``: ``{field: load(model, path)}`` for pretrained parts beside the main
  ``weights`` file (UltraRefiner's TransUNet encoder). ``Config.<field>`` names a file of the
  card's registry and ``Config.<field>_sha256`` may override its checksum; the train stage resolves
  it exactly as ``weights`` (sha256-checked, never downloaded), calls ``load`` on the built model of
  the first phase (later phases start from the previous phase's state) and records the checksum in
  provenance (``extra_weights``); predict loads the trained state and never needs the file.
- optional ``phase_config(cfg)``: for multi-phase methods (card ``phases:``), the Config of phase
  ``cfg.phase`` (frozen prefixes, optimiser, lr, steps; optional ``schedule="poly"`` and
  ``grad_clip``); see methods/README.md item 9.
- optional ``Config.min_lr``: the floor of the harness's per-step cosine schedule (default 0;
  ``eta_min`` of ``CosineAnnealingLR``).
- optional ``Config.warmup_steps``: a linear lr warm-up from ``lr / 1000`` over the first steps,
  on top of the schedule (torchvision's detection reference; default 0 = none).
- optional ``encode(model, batch, cfg) -> Any`` and ``decode(model, features, batch, cfg) ->
  Tensor``: the SAM-family split into the image encoder (run once per image) and the prompt
  encoder + mask decoder (run per prompt/click on the cached ``features``). ``decode(model,
  encode(model, batch, cfg), batch, cfg)`` must equal ``predict(model, batch, cfg)`` (a contract
  test checks it); the throughput stage (``benchmarks/stages/throughput.py``) then times the two
  halves separately. Methods without the split are timed end to end only.
- optional ``Config.window``: ``[lo, hi]`` intensity window for 3D data, replacing the dataset's
  (``benchmarks/data/volumes.py``). A card with ``dims: [.., 3d]`` and ``volumes: slices`` gets
  volumes as windowed slices: ``meta`` then holds the volume's ``case_id`` and the ``slice_index``.

Zero-shot methods (a foundation model evaluated untouched, as a reference row) declare
``trainer: none`` and a ``zero_shot_reason`` in ``card.yaml`` and define only ``Config``,
``build`` and ``predict`` (no ``train_step``, no ``fit``). The harness's train stage still writes
its four files: ``model.pt`` (the built model's state, or with a pretrained file only that file's
sha256, re-verified and loaded by ``build`` at predict time), ``train_log.csv`` (one row: 0 steps,
not trained, the reason), ``provenance.json`` (``trainer: none``, the reason, 0 trainable
parameters) and ``config.resolved.yaml``. Result rows carry ``training: zero_shot``.

Prompted methods (``prompt: box`` or ``point``) find a prompt in every batch (``box`` or
``points``/``point_labels``, see :class:`Batch`): in ``predict`` the run's pinned prompt; in
training one the harness draws afresh from the reference with the run's protocol every time the
sample is batched (seeded; a box re-jittered per step, not one cached box).

Interactive methods (card ``interactive: true``; they must also define ``encode``/``decode``)
are scored round by round: the harness calls ``encode`` once per image (or volume) and then
``decode`` once per round on the cached features. Round 0 is the box alone; before every later
round the harness places one corrective click from the method's own previous prediction and
passes, in the same batch, ``box`` (unchanged), ``points``/``point_labels`` (every click so far,
in order; 1 foreground, 0 background) and ``previous`` (the method's own probabilities of the
round before, at image size). ``decode`` must use all three and must not place clicks itself.
Without ``points`` and ``previous`` it is the plain box decode (``decode(encode(x)) ==
predict(x)`` still holds). For native 3D methods (``volumes: patches``) points are ``(x, y, z)``
voxel indices and ``previous`` is ``[B, 1, D, H, W]``.
Shared upstream building blocks live in underscore folders (``methods/_sam1``) that methods import
without importing each other.

Method modules never import Hydra, and import heavy upstream packages inside functions so that
reading a ``Config`` stays cheap.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypedDict

import torch
from torch import nn


class Meta(TypedDict, total=False):
    """Per-sample metadata carried next to the tensors."""

    case_id: str
    slice_index: int  # -1 for 2D images
    spacing_mm: tuple[float, ...] | None  # None where the format has no spacing (PNG)
    original_shape: tuple[int, ...]  # (H, W) of the image as stored on disk
    # training items only: (h, w) of the image inside the image_size square (card resize:
    # letterbox pads bottom/right beyond it; squash: the whole square)
    content_shape: tuple[int, int]


class Batch(TypedDict, total=False):
    """What the harness gives ``train_step`` and ``predict``.

    image: float32 ``[B, 3, H, W]`` in [0, 1] (grey images repeated to 3 channels; methods apply
        their own intensity normalisation).
    mask: uint8 ``[B, 1, H, W]`` in {0, 1} (training only).
    box: float32 ``[B, 4]``, xyxy in pixels of ``image``, from the run's pinned prompts file
        (box protocols); NaN where the reference is empty (no prompt to give).
    points: float32 ``[B, N, 2]`` (x, y) in pixels; ``point_labels`` int64 ``[B, N]`` (1 fg,
        0 bg, -1 padding as in SAM), for click protocols and the corrective clicks of interactive
        rounds. Unprompted runs get neither. Native 3D methods get ``[B, N, 3]`` (x, y, z).
    previous: float32 ``[B, 1, H, W]`` (``[B, 1, D, H, W]`` in 3D) in [0, 1]: the method's own
        prediction of the previous interactive round (interactive rounds after the first only).
    coarse: float32 ``[B, 1, H, W]`` in [0, 1] (training only, phases given ``cli train
        --coarse-masks``): an earlier phase's out-of-fold soft prediction of each image, from a
        model that did not train on it (:mod:`benchmarks.data.oof`), resized and flipped with it.
    meta: one :class:`Meta` per sample.
    """

    image: torch.Tensor
    mask: torch.Tensor
    box: torch.Tensor
    points: torch.Tensor
    point_labels: torch.Tensor
    coarse: torch.Tensor
    previous: torch.Tensor
    meta: list[Meta]


@dataclass(frozen=True)
class TrainData:
    """What ``fit`` receives: the training split, materialised by the harness.

    ``samples`` yields ``(case_id, image uint8 [H, W, 3], mask bool [H, W])`` at original size;
    ``work_dir`` is a private scratch folder inside the run's output directory, empty at the start
    of every run (the harness removes what an earlier run left there).
    """

    samples: Any
    work_dir: Path
    seed: int


@dataclass(frozen=True)
class Budget:
    """The training budget the harness enforces and records."""

    max_steps: int
    max_epochs: int | None = None


class MethodModule(Protocol):
    """Static type of a ``methods.<id>.method`` module."""

    Config: type

    def build(self, cfg: Any, weights_path: Path | None) -> nn.Module: ...

    def train_step(self, model: nn.Module, batch: Batch, cfg: Any) -> dict[str, torch.Tensor]: ...

    def predict(self, model: nn.Module, batch: Batch, cfg: Any) -> torch.Tensor: ...


class WeightsError(RuntimeError):
    """A weights file that does not fit the model it is loaded into."""


def load_state_dict_strict(
    model: nn.Module, path: Path, allow_missing: Iterable[str] = (), key: str | None = None
) -> list[str]:
    """Load the checkpoint file ``path`` into ``model`` with :func:`load_state_strict`.

    ``key`` names the entry of the checkpoint dict that holds the state dict (``"model"`` for
    sam2 checkpoints); ``None`` when the file is the state dict itself.
    """
    state = read_checkpoint(path)
    return load_state_strict(model, state if key is None else state[key], str(path), allow_missing)


def read_checkpoint(path: Path, allow_pickle: bool = False) -> Any:
    """``torch.load`` on the CPU; content that torch cannot read is a :class:`WeightsError` naming
    the file (never torch's advice to set ``weights_only=False``: arbitrary code, never right here).

    ``allow_pickle`` is for upstream formats that pickle whole modules (ultralytics), read only
    after the harness checked the file's sha256.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, zipfile.BadZipFile,
            ModuleNotFoundError, AttributeError) as err:
        raise WeightsError(
            f"{path}: not a readable PyTorch checkpoint ({_load_cause(err)}). Its sha256 matched "
            "the checksum it was checked against, so that checksum was taken from a damaged or "
            "wrong file: download the official file again and take the sha256 from its source "
            "(the card's weights registry)") from err


def _load_cause(err: BaseException) -> str:
    """The informative line of a torch.load error, without torch's weights_only advice."""
    text = str(err)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "weights_only" not in ln]
    return f"{type(err).__name__}: {lines[0] if lines else 'unreadable'}"


def load_state_strict(
    model: nn.Module, state: dict[str, torch.Tensor], source: str, allow_missing: Iterable[str] = ()
) -> list[str]:
    """Load ``state`` into ``model``; any missing, unexpected or mis-shaped key is an error.

    Args:
        model: the freshly built model.
        state: the state dict to load.
        source: where it came from (named in the error).
        allow_missing: key prefixes that may be absent or re-shaped (a task-specific head that is
            re-initialised on purpose); they are returned so that provenance can list them.

    Returns:
        The keys that were left at their initial values.
    """
    own = model.state_dict()
    allowed = tuple(allow_missing)
    bad_shape = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    skipped = [k for k in own if (k not in state or k in bad_shape) and k.startswith(allowed)]
    problems = {
        "missing": [k for k in own if k not in state and not k.startswith(allowed)],
        "unexpected": [k for k in state if k not in own and not k.startswith(allowed)],
        "shape mismatch": [k for k in bad_shape if not k.startswith(allowed)],
    }
    if any(problems.values()):
        detail = "; ".join(f"{name}: {keys[:5]}" for name, keys in problems.items() if keys)
        heads = f"; re-initialised on purpose: {list(allowed)}" if allowed else ""
        raise WeightsError(f"{source} does not fit {type(model).__name__} ({detail}{heads})")
    usable = {k: v for k, v in state.items() if k in own and k not in bad_shape}
    model.load_state_dict(usable, strict=False)
    model.reinitialised = sorted({p for p in allowed if any(k.startswith(p) for k in skipped)})
    return skipped
