"""Seeded prompt simulation shared by every prompted method, written once per file.

A prompts file is made once per (dataset, split, protocol, seed) from the reference masks and read
by every SAM-family method, so all of them see exactly the same boxes and clicks.

Coordinates: pixels of the image as stored on disk, ``x`` = column (array axis 1) and ``y`` = row
(array axis 0); a box is ``[x_min, y_min, x_max, y_max]`` with inclusive corner pixels, as SAM's
``batched_mask_to_box`` and MedSAM's box prompts. The reference Medical SAM2 2D loader returned
``(row, col)``; a unit test pins this order. For 3D volumes ``[X, Y, Z]`` the image of slice ``z``
is ``volume[:, :, z]`` as stored (rows = array axis 0), boxes and clicks per slice use the same
``(x, y)`` rule, and 3D clicks are ``(x, y, z)``.

Protocols (the grid axis ``prompt``), parsed by :func:`parse_protocol`:

- ``box`` = ``box20``: the mask's box, each side moved outwards by 0-20 px drawn independently
  (MedSAM's ``bbox_shift=20``), clipped to the image; ``box0`` is the tight box;
- ``pos<K>`` / ``pos<K>neg<M>``: K clicks drawn uniformly inside the mask, M outside it;
- ``box<J>clicks<N>`` (e.g. ``boxclicks5``): the interactive protocol: the file holds the boxes of
  ``box<J>`` (the same draws: a ``boxclicks5`` cell starts from the ``box`` cell's boxes), and the
  N corrective clicks are placed at predict time from the method's own errors
  (:mod:`benchmarks.data.clicks`, :mod:`benchmarks.stages.interactive`), never stored here;
- on 3D data the name also says which slices are prompted: ``<protocol>_allslices`` (e.g.
  ``box_allslices``) = every slice whose reference holds foreground gets its own box or clicks, as
  above (slices without foreground get none, so a slice-wise method predicts them empty); the
  file's 3D clicks ``(x, y, z)`` (click protocols) are for volumetric methods. A plain name on 3D
  data, or a slice suffix on 2D data, is refused (:func:`check_dims`).

A case with an empty reference (BUSI ``normal``, an absent organ) gets no box and no clicks, and
``"status": "empty_mask"``; methods decide what to do and the evaluation scores it as usual.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.core import registry
from benchmarks.core.io import write_text

NO_PROMPT = registry.NO_PROMPT  # the prompt axis value of methods whose card says `prompt: none`
COORDINATES = "x=column (array axis 1), y=row (array axis 0), pixels; boxes xyxy inclusive"
SLICE_SUFFIXES = ("allslices",)  # which slices of a volume are prompted (_<suffix> of the name)
# every name parse_protocol accepts (Snakemake wildcard, schema pattern)
PROTOCOL_PATTERN = r"(box\d*(clicks\d+)?|pos\d+(neg\d+)?)(_allslices)?"
_BOX = re.compile(r"^box(?P<jitter>\d+)?(?:clicks(?P<clicks>\d+))?$")
_POINTS = re.compile(r"^pos(?P<pos>\d+)(?:neg(?P<neg>\d+))?$")


class PromptError(ValueError):
    """An unknown protocol or a prompts file that does not match the run."""


@dataclass(frozen=True)
class Protocol:
    """What one protocol name asks for."""

    name: str
    box: bool
    jitter_px: int = 0
    n_pos: int = 0
    n_neg: int = 0
    slices: str = ""  # 3D: which slices are prompted ("allslices"); "" = a 2D protocol
    clicks: int = 0  # corrective click rounds after the box (interactive protocols), 0 = none


def parse_protocol(name: str) -> Protocol:
    """``box``, ``box<J>``, ``pos<K>`` or ``pos<K>neg<M>``, optionally ``_allslices`` for 3D data
    (see the module docstring)."""
    base, _, slices = name.partition("_")
    if slices in ("", *SLICE_SUFFIXES):
        if match := _BOX.match(base):
            return Protocol(name, box=True, jitter_px=int(match["jitter"] or 20), slices=slices,
                            clicks=int(match["clicks"] or 0))
        if match := _POINTS.match(base):
            n_pos, n_neg = int(match["pos"]), int(match["neg"] or 0)
            if n_pos + n_neg > 0:
                return Protocol(name, box=False, n_pos=n_pos, n_neg=n_neg, slices=slices)
    raise PromptError(f"unknown prompt protocol {name!r}; use box, box<J>, box<J>clicks<N>, "
                      f"pos<K> or pos<K>neg<M>, with _allslices on 3D data")


def check_dims(protocol: Protocol, dims: str) -> str | None:
    """Why ``protocol`` cannot prompt ``dims`` data (``None`` when it can): on 3D data the name
    must say which slices are prompted, and a 2D image has no slices."""
    if dims == "3d" and not protocol.slices:
        return (f"prompt {protocol.name} names no prompted slices; on 3d data use "
                f"{protocol.name}_allslices")
    if dims != "3d" and protocol.slices:
        return f"prompt {protocol.name} prompts slices of volumes; {dims} data has none"
    return None


def box_from_mask(mask: np.ndarray) -> list[int] | None:
    """``[x_min, y_min, x_max, y_max]`` (inclusive) of a 2D mask, or ``None`` when it is empty."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    return [int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())]


def jitter_box(box: list[int], shape: tuple[int, int], max_px: int,
               rng: np.random.Generator) -> list[int]:
    """Move each side outwards by an integer drawn from ``[0, max_px]``, clipped to the image."""
    grow = rng.integers(0, max_px + 1, size=4) if max_px > 0 else np.zeros(4, int)
    height, width = shape
    return [max(0, box[0] - int(grow[0])), max(0, box[1] - int(grow[1])),
            min(width - 1, box[2] + int(grow[2])), min(height - 1, box[3] + int(grow[3]))]


def sample_clicks(mask: np.ndarray, n_pos: int, n_neg: int,
                  rng: np.random.Generator) -> tuple[list[list[int]], list[int]]:
    """Clicks drawn without replacement inside (label 1) and outside (label 0) the mask.

    Points are ``[x, y]`` for 2D masks and ``[x, y, z]`` for 3D ``[X, Y, Z]`` masks.
    """
    points: list[list[int]] = []
    labels: list[int] = []
    for inside, count in ((True, n_pos), (False, n_neg)):
        where = np.argwhere(mask if inside else ~mask)
        if count == 0 or len(where) == 0:
            continue
        chosen = where[rng.choice(len(where), size=min(count, len(where)), replace=False)]
        for idx in chosen:
            points.append([int(idx[1]), int(idx[0]), *(int(v) for v in idx[2:])])
            labels.append(int(inside))
    return points, labels


def image_prompts(mask: np.ndarray, protocol: Protocol, rng: np.random.Generator) -> dict:
    """The prompt of one 2D image (or one slice)."""
    box = box_from_mask(mask)
    if box is None:
        return {"status": "empty_mask", "box": None, "points": [], "point_labels": []}
    out: dict[str, Any] = {"status": "ok", "box": None, "points": [], "point_labels": []}
    if protocol.box:
        out["box"] = jitter_box(box, mask.shape, protocol.jitter_px, rng)
    else:
        out["points"], out["point_labels"] = sample_clicks(mask, protocol.n_pos, protocol.n_neg,
                                                           rng)
    return out


def volume_prompts(mask: np.ndarray, protocol: Protocol, rng: np.random.Generator) -> dict:
    """Per-slice prompts of a 3D ``[X, Y, Z]`` mask plus 3D clicks for volumetric methods."""
    slices = [dict(image_prompts(mask[:, :, z], protocol, rng), slice=z)
              for z in range(mask.shape[2]) if mask[:, :, z].any()]
    points, labels = ([], []) if protocol.box else sample_clicks(
        mask, protocol.n_pos, protocol.n_neg, rng)
    return {"status": "ok" if slices else "empty_mask", "slices": slices,
            "points": points, "point_labels": labels}


def case_rng(seed: int, case_id: str) -> np.random.Generator:
    """A generator that depends only on the seed and the case (not on listing order)."""
    digest = hashlib.sha256(case_id.encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def make_prompts(loader: Any, dcfg: Any, split: dict, split_sha256: str, protocol: Protocol,
                 seed: int) -> dict[str, Any]:
    """The prompts document for every case of ``split`` (all folds; train and test alike)."""
    problem = check_dims(protocol, dcfg.dims)
    if problem is not None:
        raise PromptError(f"{split['dataset_id']}: {problem}")
    refs = {ref.case_id: ref for ref in loader.list_cases(dcfg)}
    cases = {}
    for case_id in sorted(split["cases"]):
        mask = loader.load_case(refs[case_id], dcfg).mask
        simulate = volume_prompts if mask.ndim == 3 else image_prompts
        cases[case_id] = simulate(mask, protocol, case_rng(seed, case_id))
    # `clicks` only where set: box files written before interactive protocols keep their bytes
    described = {k: v for k, v in asdict(protocol).items() if k != "clicks" or v}
    return {"dataset_id": split["dataset_id"], "protocol": described, "seed": seed,
            "split_sha256": split_sha256, "coordinates": COORDINATES, "cases": cases}


def write_for(loader: Any, dcfg: Any, split_path: Path, protocol: str, seed: int,
              out: Path) -> str:
    """Make and write the prompts of a dataset (its loader module and Config, as
    ``config.dataset_config`` gives them); return the file's sha256."""
    from benchmarks.data import splits

    split, sha = splits.read_split(split_path)
    doc = make_prompts(loader, dcfg, split, sha, parse_protocol(protocol), seed)
    text = json.dumps(doc, sort_keys=True) + "\n"
    write_text(out, text)
    return hashlib.sha256(text.encode()).hexdigest()


def read_prompts(path: str | Path, split_sha256: str | None = None) -> tuple[dict, str]:
    """The prompts document and its sha256; checks it was made from the given split."""
    path = Path(path)
    if not path.exists():
        raise PromptError(f"{path}: prompts file not found; run `cli prompts` for this split")
    raw = path.read_bytes()
    doc = json.loads(raw)
    if split_sha256 is not None and doc["split_sha256"] != split_sha256:
        raise PromptError(f"{path}: made from split {doc['split_sha256'][:12]}, the run uses "
                          f"{split_sha256[:12]}; regenerate the prompts")
    return doc, hashlib.sha256(raw).hexdigest()


def for_case(doc: dict, case_id: str) -> dict[str, Any]:
    """The prompt of one case; a clear error when the file has none for it."""
    if case_id not in doc["cases"]:
        raise PromptError(f"no prompt for case {case_id} in the {doc['dataset_id']} prompts file; "
                          "the split changed since the prompts were made: regenerate them")
    return doc["cases"][case_id]


def prompt_problem(prompt: dict[str, Any], shape: tuple[int, ...]) -> str | None:
    """Why a 2D prompt (a file's entry for one image or slice) cannot be used on an image of
    ``shape`` (rows, columns), else ``None``: a box must be four finite numbers ``[x0, y0, x1,
    y1]`` with ``x0 <= x1`` and ``y0 <= y1`` inside the image, every click inside it, one label
    per click. A hand-made or edited prompts file is used as given otherwise (issue 19 item 5)."""
    height, width = shape[:2]
    box = prompt.get("box")
    if box is not None:
        values = np.asarray(box, dtype=float).ravel()
        if values.size != 4 or not np.isfinite(values).all():
            return f"box {box} is not four finite numbers [x0, y0, x1, y1]"
        x0, y0, x1, y1 = values
        if x1 < x0 or y1 < y0:
            return f"box {box} is inverted (x1 < x0 or y1 < y0); boxes are [x0, y0, x1, y1]"
        if x0 < 0 or y0 < 0 or x1 > width - 1 or y1 > height - 1:
            return (f"box {box} lies outside the {width}x{height} image "
                    f"(x in [0, {width - 1}], y in [0, {height - 1}])")
    points, labels = prompt.get("points") or [], prompt.get("point_labels") or []
    if len(points) != len(labels):
        return f"{len(points)} clicks but {len(labels)} click labels"
    outside = [p for p in points if not (0 <= p[0] <= width - 1 and 0 <= p[1] <= height - 1)]
    if outside:
        return f"clicks {outside[:3]} lie outside the {width}x{height} image"
    return None
