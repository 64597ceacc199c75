"""Read many small files once: batched parsing and a cache keyed by each file's size and mtime.

At 20,000 cells the aggregate reads 20,000 metrics files and 60,000 benchmark files. One
``pandas.read_csv`` per file costs about 2 ms (minutes in all), so the texts are grouped by header
line and parsed with one ``read_csv`` per group. The parsed rows are kept in a pickle beside the
summary tables; on the next aggregate a file whose (size, mtime) is unchanged is not read again,
so a rerun after one new cell reads one new file (as make and Snakemake judge files by mtime).
"""

from __future__ import annotations

import csv
import io
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.core.io import atomic_path

SOURCE = "_source"  # column holding the file each row came from
_VERSION = 1  # bump when a parser's output changes, so that old caches are not trusted

Parser = Callable[[list[str]], pd.DataFrame]


def signatures(paths: list[str]) -> dict[str, tuple[int, int]]:
    """``{path: (size, mtime_ns)}`` of the paths that exist."""
    found = {}
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        found[path] = (st.st_size, st.st_mtime_ns)
    return found


def _records(body: str, sep: str) -> int:
    """Number of CSV records in ``body`` (quoted fields may span lines; blank lines skipped)."""
    return sum(1 for row in csv.reader(io.StringIO(body), delimiter=sep) if row)


def parse_tables(paths: list[str], sep: str = ",") -> pd.DataFrame:
    """The rows of every table in ``paths``, with a ``_source`` column; one parse per header."""
    groups: dict[str, tuple[list[str], list[str], list[int]]] = {}
    for path in paths:
        header, _, body = Path(path).read_text().partition("\n")
        if body and not body.endswith("\n"):
            body += "\n"
        sources, bodies, counts = groups.setdefault(header, ([], [], []))
        sources.append(path)
        bodies.append(body)
        counts.append(_records(body, sep))
    frames = [_parse_group(header, *group, sep) for header, group in groups.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[SOURCE])


def _parse_group(header: str, sources: list[str], bodies: list[str], counts: list[int],
                 sep: str) -> pd.DataFrame:
    table = pd.read_csv(io.StringIO(header + "\n" + "".join(bodies)), sep=sep)
    if len(table) != sum(counts):  # a file pandas reads differently: parse each on its own
        return pd.concat([pd.read_csv(p, sep=sep).assign(**{SOURCE: p}) for p in sources],
                         ignore_index=True)
    return table.assign(**{SOURCE: np.repeat(np.array(sources, dtype=object), counts)})


def _read_cache(path: Path) -> tuple[dict[str, tuple[int, int]], pd.DataFrame]:
    try:
        with open(path, "rb") as handle:
            version, sigs, frame = pickle.load(handle)
    except (OSError, EOFError, ValueError, pickle.UnpicklingError):
        return {}, pd.DataFrame(columns=[SOURCE])
    return (sigs, frame) if version == _VERSION else ({}, pd.DataFrame(columns=[SOURCE]))


def load(paths: list[str], cache: Path, parse: Parser) -> tuple[pd.DataFrame, set[str]]:
    """Rows of the existing files among ``paths`` (in the order of ``paths``), and those files.

    Only files that are new or changed since the cache was written are parsed.
    """
    sigs = signatures(paths)
    old_sigs, old = _read_cache(cache)
    fresh = [p for p, sig in sigs.items() if old_sigs.get(p) != sig]
    kept = old[old[SOURCE].isin(set(sigs) - set(fresh))] if len(old) else old
    parts = [f for f in (kept, parse(fresh) if fresh else kept.iloc[:0]) if len(f)]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[SOURCE])
    if fresh or len(kept) != len(old) or set(old_sigs) - set(sigs):
        with atomic_path(cache) as tmp, open(tmp, "wb") as handle:
            pickle.dump((_VERSION, sigs, frame), handle, protocol=pickle.HIGHEST_PROTOCOL)
    order = {p: i for i, p in enumerate(paths)}
    frame = frame.iloc[np.argsort(frame[SOURCE].map(order).to_numpy(), kind="stable")]
    return frame.reset_index(drop=True), set(sigs)
