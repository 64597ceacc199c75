"""Methods and datasets found by folder convention and imported lazily (style guide B9.3)."""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from benchmarks.core import REPO_ROOT

METHODS_DIR = REPO_ROOT / "methods"
DATA_DIR = REPO_ROOT / "benchmarks" / "data" / "loaders"
ID_PATTERN = re.compile(r"^[a-z0-9_]+$")
_NOT_LOADERS = {"__init__"}
NO_PROMPT = "none"  # the prompt axis value of methods whose card says `prompt: none`
# 3D protocols that prompt every slice holding reference foreground see the reference on every
# slice: an upper bound, labelled so in every table and figure (issue 21 item 10)
REFERENCE_INFORMED_SUFFIX = "_allslices"
REFERENCE_INFORMED_TAG = "[reference-informed upper bound]"


class UnknownIdError(KeyError):
    """An id that names no method folder or dataset loader."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def list_methods() -> list[str]:
    """Ids of ``methods/<id>/`` folders that hold both ``card.yaml`` and ``method.py``."""
    return sorted(
        p.name
        for p in METHODS_DIR.iterdir()
        if p.is_dir()
        and not p.name.startswith("_")
        and (p / "card.yaml").exists()
        and (p / "method.py").exists()
    )


def list_loaders() -> list[str]:
    """Ids of dataset loaders: the modules ``benchmarks/data/loaders/<id>.py``."""
    return sorted(
        p.stem for p in DATA_DIR.glob("*.py") if p.stem not in _NOT_LOADERS and p.stem[0] != "_"
    )


def _check(kind: str, given: str, known: list[str]) -> None:
    if given not in known:
        raise UnknownIdError(f"unknown {kind} id {given!r}; known: {', '.join(known)}")


@cache
def read_card(method_id: str) -> dict[str, Any]:
    """The parsed ``card.yaml`` of a method (no torch import needed)."""
    _check("method", method_id, list_methods())
    return yaml.safe_load((METHODS_DIR / method_id / "card.yaml").read_text())


def import_method(method_id: str) -> ModuleType:
    """Import ``methods.<id>.method``; only the requested method is imported."""
    _check("method", method_id, list_methods())
    return importlib.import_module(f"methods.{method_id}.method")


def import_loader(loader_id: str) -> ModuleType:
    """Import ``benchmarks.data.loaders.<id>``."""
    _check("dataset loader", loader_id, list_loaders())
    return importlib.import_module(f"benchmarks.data.loaders.{loader_id}")


def method_card_path(method_id: str) -> Path:
    """Path of a method's card, for error messages."""
    return METHODS_DIR / method_id / "card.yaml"


def phases(method_id: str) -> list[str]:
    """A multi-phase method's phases in training order (card ``phases:``); ``[]`` for a method
    trained in one go. Each phase starts from the previous phase's ``model.pt`` of the same cell;
    the last one is the cell's model."""
    return [entry["name"] for entry in read_card(method_id).get("phases") or []]


def scored_phases(method_id: str) -> list[str]:
    """Phases before the last whose model is also predicted and scored (``evaluate: true``)."""
    entries = read_card(method_id).get("phases") or []
    return [entry["name"] for entry in entries[:-1] if entry.get("evaluate")]


def phase_jobs(method_id: str) -> list[str]:
    """The jobs of a multi-phase method's earlier phases as paths below its cell, in run order:
    ``phase=<p>/train``, the out-of-fold models of a phase a later one trains on
    (``phase=<p>/half=<h>/train`` and ``predict``), ``phase=<p>/predict`` and ``evaluate`` of a
    scored phase. ``[]`` for a method trained in one go."""
    entries = read_card(method_id).get("phases") or []
    sources = {entry.get("oof_of") for entry in entries}
    jobs = []
    for entry in entries[:-1]:
        name = entry["name"]
        jobs.append(f"phase={name}/train")
        if name in sources:
            jobs += [f"phase={name}/half={h}/{s}" for h in (0, 1) for s in ("train", "predict")]
        if entry.get("evaluate"):
            jobs += [f"phase={name}/predict", f"phase={name}/evaluate"]
    return jobs


def oof_source(method_id: str, phase: str) -> str | None:
    """The earlier phase whose out-of-fold predictions ``phase`` trains on (card ``oof_of:``,
    :mod:`benchmarks.data.oof`), or ``None``."""
    entries = read_card(method_id).get("phases") or []
    return next((e.get("oof_of") for e in entries if e["name"] == phase), None)


def result_label(method_id: str, phase: str | None) -> str:
    """The ``method`` of result rows: the id for the cell's model, ``<id>:<phase>`` for the model of
    an earlier phase (its own row in every table, e.g. ``ultra_refiner:coarse``)."""
    names = phases(method_id)
    return method_id if not names or phase in (None, names[-1]) else f"{method_id}:{phase}"
