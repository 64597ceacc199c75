"""Pretrained weights: local files named in config, checked against a sha256 before loading.

Nothing is downloaded. A run without weights is recorded as ``random_init`` everywhere.
"""

from __future__ import annotations

import hashlib
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


def _expected_sha(method_id: str, mcfg: Any) -> str:
    """The full sha256, or a prefix of it where the registry has only that (torchvision files)."""
    if mcfg.weights_sha256:
        return str(mcfg.weights_sha256)
    registry_entries = registry.read_card(method_id).get("weights") or {}
    for entry in registry_entries.values():
        checksum = entry.get("sha256") or entry.get("sha256_prefix")
        if entry.get("file") == Path(mcfg.weights).name and checksum:  # some files have none
            return str(checksum)
    raise WeightsFileError(
        f"method.weights={mcfg.weights!r} has no checksum: set method.weights_sha256=<sha256sum of "
        f"the file> or add it to the weights registry in {registry.method_card_path(method_id)}"
    )


def resolve(method_id: str, mcfg: Any, checkpoints_dir: str | Path) -> tuple[Path | None, str]:
    """The verified weights path (or ``None``) and what provenance records for it.

    Returns:
        ``(None, "random_init")`` when ``mcfg.weights`` is empty, else ``(path, sha256)``.

    Raises:
        WeightsFileError: naming the file and the fix when it is missing or its sha256 differs.
    """
    if not mcfg.weights:
        return None, RANDOM_INIT
    path = Path(mcfg.weights)
    path = path if path.is_absolute() else Path(checkpoints_dir) / path
    expected = _expected_sha(method_id, mcfg)
    if not path.is_file():
        raise WeightsFileError(
            f"weights file {path} not found: place it under paths.checkpoints "
            f"({checkpoints_dir}) or set method.weights=null to train from random init"
        )
    actual = sha256_file(path)
    if not actual.startswith(expected) or len(expected) < 8:
        raise WeightsFileError(
            f"weights file {path} has sha256 {actual}, expected {expected}: the file is "
            "corrupt or not the one the registry names; fetch it again or fix the checksum"
        )
    return path, actual
