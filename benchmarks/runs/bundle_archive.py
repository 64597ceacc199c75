"""The bundle file: a gzipped tar whose first member is ``manifest.json`` and whose other members
are the listed files below ``results/``, each checked against its sha256 and size on reading.

Reading refuses, naming the bundle and the reason: a newer format version (before anything else
is read), a truncated or corrupt archive, a member outside ``results/`` or not in the manifest,
a listed file missing, or a file whose sha256 differs. Torch-free.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
import time
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from benchmarks.core.io import atomic_path
from benchmarks.runs.bundle_manifest import FORMAT_VERSION, BundleError, sha256_file

MANIFEST = "manifest.json"
PREFIX = "results"


def write(out: Path, results: Path, manifest: dict[str, Any], files: list[str]) -> dict[str, Any]:
    """Write the bundle atomically; the manifest gains the sha256 and size of every file."""
    listed = {f: {"sha256": sha256_file(results / f), "size": (results / f).stat().st_size}
              for f in files}
    manifest = manifest | {"created": time.time(), "files": listed}
    data = json.dumps(manifest, indent=1, sort_keys=True).encode()
    with atomic_path(out) as tmp, tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime = len(data), int(manifest["created"])
        tar.addfile(info, io.BytesIO(data))  # first: an importer reads the version before all else
        for rel in files:
            tar.add(results / rel, arcname=f"{PREFIX}/{rel}", recursive=False)
    return manifest


def _check_version(bundle: Path, manifest: dict[str, Any]) -> None:
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise BundleError(f"{bundle}: bundle format version {version!r}; this checkout reads "
                          f"format versions 1 to {FORMAT_VERSION}: update samseg-bench (git "
                          "pull) on this machine, or export with the older checkout")


def _safe(bundle: Path, name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or path.parts[:1] != (PREFIX,):
        raise BundleError(f"{bundle}: member {name!r} is not a path below {PREFIX}/; refusing "
                          "the bundle (it was not written by bundle export)")
    return path.relative_to(PREFIX).as_posix()


def read_manifest(bundle: Path) -> dict[str, Any]:
    """The manifest alone (the first member), version-checked."""
    try:
        with tarfile.open(bundle, "r:gz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise BundleError(f"{bundle}: no {MANIFEST} first; not a bundle of bundle export")
            manifest = json.loads(tar.extractfile(first).read())
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as err:
        raise BundleError(f"{bundle}: truncated or corrupt bundle ({type(err).__name__}: "
                          f"{err}); nothing was imported: copy it again") from err
    _check_version(bundle, manifest)
    return manifest


def staged_paths(manifest: dict[str, Any], staging: Path) -> dict[str, Path]:
    """Where each listed file is unpacked: flat, one numbered file per member, so that staging
    creates no folders (at 20,000 cells making and removing those costs more than the files)."""
    return {rel: staging / str(n) for n, rel in enumerate(sorted(manifest.get("files", {})))}


def _copy_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path | None) -> str:
    """Stream one member, hashing it; write it to ``target`` unless None. Returns its sha256."""
    source = tar.extractfile(member)
    if source is None:
        raise BundleError(f"member {member.name} is not a regular file")
    digest = hashlib.sha256()
    with open(target, "wb") if target is not None else contextlib.nullcontext() as fh:
        while block := source.read(1 << 20):
            digest.update(block)
            if fh is not None:
                fh.write(block)
    return digest.hexdigest()


def extract(bundle: Path, staging: Path, wanted: set[str] | None = None) -> dict[str, Any]:
    """Check every member of ``bundle`` against its manifest (all listed, none else, each sha256)
    and unpack the ``wanted`` ones (all when None) to :func:`staged_paths`; return the manifest.
    Nothing is written outside ``staging``."""
    manifest = read_manifest(bundle)
    listed: dict[str, dict[str, Any]] = manifest.get("files", {})
    where = staged_paths(manifest, staging)
    staging.mkdir(parents=True, exist_ok=True)
    seen = set()
    try:
        with tarfile.open(bundle, "r:gz") as tar:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                rel = _safe(bundle, member.name)
                if rel not in listed:
                    raise BundleError(f"{bundle}: {member.name} is not in its manifest")
                keep = wanted is None or rel in wanted
                if _copy_member(tar, member, where[rel] if keep else None) != \
                        listed[rel]["sha256"]:
                    raise BundleError(f"{bundle}: {rel} differs from its manifest sha256; "
                                      "corrupt bundle, nothing was imported: copy it again")
                seen.add(rel)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise BundleError(f"{bundle}: truncated or corrupt bundle ({type(err).__name__}: "
                          f"{err}); nothing was imported: copy it again") from err
    missing = sorted(set(listed) - seen)
    if missing:
        raise BundleError(f"{bundle}: {len(missing)} listed file(s) absent (first: {missing[0]}); "
                          "truncated bundle, nothing was imported: copy it again")
    return manifest
