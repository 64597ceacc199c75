"""Atomic file writes, so that a crash or a rerun never leaves a half-written result behind.

Files get the permissions any other tool would give them (``0666`` less the user's umask), so
colleagues on a shared cluster can read a grid's results. A folder that cannot be written (read-only
file system, no permission, full disk or quota) is a :class:`ResultsWriteError` naming the folder
and the cause, not a bare traceback.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

# errno -> why a folder cannot take a file, and what to do about it
_WRITE_CAUSES = {
    errno.EROFS: ("its file system is mounted read-only",
                  "remount it read-write or run from a writable folder (Snakemake writes "
                  "results/ below its --directory; by hand: --out below a writable folder)"),
    errno.EACCES: ("this user may not write there", "fix its permissions or choose another folder"),
    errno.EPERM: ("this user may not write there", "fix its permissions or choose another folder"),
    errno.ENOSPC: ("its disk is full", "free space there (df -h) and rerun; finished results "
                   "are kept"),
    errno.EDQUOT: ("the disk quota is exceeded", "free space or raise the quota and rerun; "
                   "finished results are kept"),
}


class ResultsWriteError(OSError):
    """A result that cannot be written: the message names the folder, the cause and the fix."""


def _umask() -> int:
    """The process umask, read without changing it (Linux), else by setting and restoring it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def as_write_error(err: OSError, path: Path) -> OSError:
    """``err`` as a :class:`ResultsWriteError` naming ``path``'s folder, the cause and the fix
    when it is one of the folder errors we know (read-only, permission, full disk, quota)."""
    if isinstance(err, ResultsWriteError) or err.errno not in _WRITE_CAUSES:
        return err
    return _write_error(err, path)


def _write_error(err: OSError, path: Path) -> ResultsWriteError:
    cause, fix = _WRITE_CAUSES[err.errno]
    return ResultsWriteError(err.errno, f"cannot write {path.name} in {path.parent}: {cause} "
                                        f"({os.strerror(err.errno)}); {fix}")


# what torch's PytorchStreamWriter says when a write fails (no space left, or the quota)
_TORCH_WRITE_FAILURES = ("PytorchStreamWriter failed", "file write failed", "unexpected pos")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; renamed onto ``path`` only if the block succeeds.

    The file ends with mode ``0666 & ~umask`` (``mkstemp`` alone would leave it ``0600``).

    Raises:
        ResultsWriteError: when the folder is read-only, not writable for this user, or full.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as err:
        if err.errno not in _WRITE_CAUSES or isinstance(err, ResultsWriteError):
            raise
        raise _write_error(err, path) from err
    except RuntimeError as err:  # torch.save reports a full disk without an errno
        if not any(marker in str(err) for marker in _TORCH_WRITE_FAILURES):
            raise
        raise ResultsWriteError(errno.ENOSPC, f"no space left on device writing {path} (torch: "
                                f"{str(err).strip()[:200]}); free space there (df -h) and "
                                "rerun; finished results are kept") from err
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_yaml(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as YAML atomically."""
    write_text(path, yaml.safe_dump(obj, sort_keys=False))


def write_table(path: str | Path, df: pd.DataFrame) -> None:
    """Write a tidy table as CSV (``.csv``) or TSV (``.tsv``) atomically."""
    sep = "\t" if str(path).endswith(".tsv") else ","
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, sep=sep)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table`."""
    sep = "\t" if str(path).endswith(".tsv") else ","
    return pd.read_csv(path, sep=sep, keep_default_na=True)


def write_summary(path: str | Path, df: pd.DataFrame) -> None:
    """Write a summary table as CSV/TSV and, beside it, as Parquet (same stem) for pandas/DuckDB.

    Columns of mixed Python types (a status column with numbers and text) are stored as strings
    in the Parquet file only; the CSV keeps what pandas wrote.
    """
    write_table(path, df)
    mixed = [c for c in df if df[c].dtype == object]
    frame = df.astype({c: "string" for c in mixed}) if mixed else df
    with atomic_path(Path(path).with_suffix(".parquet")) as tmp:
        frame.to_parquet(tmp, index=False)
