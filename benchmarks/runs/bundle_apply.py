"""Apply an import plan to a results tree all or nothing.

Everything is staged first in ``results/.bundle-import/`` (same file system, so moves are
renames). A journal listing every file to put or remove is written before the first rename; each
file this tree had is moved to ``backup/`` before it is replaced or removed. A failure rolls the
renames back at once; a process killed half-way leaves the journal, and the next ``bundle import``
(or :func:`recover`) rolls back from it before anything else, so ``results/`` is as it was.
Torch-free.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from benchmarks.core.io import write_json

WORK = ".bundle-import"
JOURNAL = "journal.json"


def work_dir(results: Path) -> Path:
    return results / WORK


def _move(src: Path, dst: Path) -> None:
    os.makedirs(dst.parent, exist_ok=True)
    os.replace(src, dst)


def _undo(results: Path, entries: list[dict[str, str]]) -> None:
    """Put back every file moved away; remove every file put where none was."""
    for entry in reversed(entries):
        target, saved = results / entry["rel"], Path(entry["backup"])
        if saved.exists():
            _move(saved, target)  # this tree's own file comes back
        elif entry["was"] == "absent" and entry["op"] == "put" and \
                not Path(entry["src"]).exists() and target.exists():
            target.unlink()  # the staged file had been moved in: take it out again


def recover(results: Path) -> str:
    """Roll back an import that was killed half-way; '' when there was none to roll back."""
    work = work_dir(results)
    journal = work / JOURNAL
    if journal.exists():
        entries = json.loads(journal.read_text())["entries"]
        _undo(results, entries)
        shutil.rmtree(work)
        return (f"rolled back an interrupted bundle import ({len(entries)} file(s)); "
                f"{results} is as it was before it")
    if work.exists():  # staging of an import that never started applying
        shutil.rmtree(work)
    return ""


def apply(results: Path, put: dict[str, Path], remove: set[str],
          before_each: Callable[[int], None] | None = None) -> None:
    """Move the staged files in and the removed ones out, as one step (rolled back on error).

    ``before_each(i)`` runs before the i-th rename (the tests kill an import half-way with it).
    """
    work = work_dir(results)
    backup = work / "backup"  # flat, one numbered file per entry (no folders to make)
    backup.mkdir(parents=True, exist_ok=True)
    entries = [{"op": "put", "rel": rel, "src": str(src),
                "was": "present" if (results / rel).exists() else "absent"}
               for rel, src in sorted(put.items())]
    entries += [{"op": "remove", "rel": rel, "src": "", "was": "present"} for rel in sorted(remove)]
    for n, entry in enumerate(entries):
        entry["backup"] = str(backup / str(n))
    write_json(work / JOURNAL, {"entries": entries})  # first: a kill from here on is undone
    made: set[Path] = set()
    try:
        for i, entry in enumerate(entries):
            if before_each is not None:
                before_each(i)
            target = results / entry["rel"]
            if entry["was"] == "present" and target.exists():
                os.replace(target, entry["backup"])
            if entry["op"] == "put":
                if target.parent not in made:  # one makedirs per folder, not per file
                    os.makedirs(target.parent, exist_ok=True)
                    made.add(target.parent)
                os.replace(entry["src"], target)
    except BaseException:
        _undo(results, entries)
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work)  # committed: the journal goes with the backups
