"""Results derived from inputs that are gone or newer: removed when a stage starts, flagged by the
aggregate.

Snakemake reruns a job when its output is missing or older than an input, but a job whose output
exists and whose input is *missing* is left alone (that is how temp() intermediates work). So when a
forced or failed upstream job loses its outputs (Snakemake deletes the outputs of a failed job;
``kill -9`` of the job does the same; ``kill -9`` of the driver leaves an orphan that is still
writing), the cell's old ``evaluate/metrics.csv`` stays and every later run says "Nothing to be
done", reporting numbers of a model or predictions that no longer exist (issue 19 items 1-3).

We looked at Snakemake's own mechanisms first: ``rerun-triggers`` (mtime, params, input set, code,
software-env) compare existing files and recorded metadata only; incomplete markers
(``rerun-incomplete``) concern the outputs of a job that was running when the *driver* died, and
only once those files exist; output checksums need the file. None fires on "an input of an
existing output is gone". Hence two small steps of our own:

1. :func:`invalidate`: a stage that starts in a results tree first removes the declared outputs of
   the jobs derived from it (train -> the cell's predict and evaluate files; an earlier phase ->
   the later phases and the cell's own files) and the two sentinels of the summary
   (:data:`SENTINELS`). A missing output is replanned only when a job that needs it runs, so the
   summary must be out of date too: then the next run remakes the report and, on its way, the
   missing cell outputs. The orphan of a killed driver does the same on its own start, so the
   first rerun is already right.
2. :func:`stale_reason`: the aggregate keeps a cell's metrics only while every input they were
   made from still exists (what Snakemake cannot see: a job killed between Snakemake removing its
   outputs and our step 1, or a file deleted by hand). Stale metrics are left out of every table
   and listed with their reason in ``status.csv`` (state ``stale``).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.core import registry

ORDER = ("train", "predict", "evaluate")
# the declared outputs of each stage (workflow/rules/*.smk), relative to the stage's folder
OUTPUTS = {"train": ("model.pt", "provenance.json", "train_log.csv", "config.resolved.yaml"),
           "predict": ("predictions.npz", "cases.csv", "oof.json"),
           "evaluate": ("metrics.csv",)}
PHASE_SEP = "/phase="
# made only by the aggregate and report rules (workflow/rules/report.smk, below the results root):
# without them Snakemake replans the summary, and on its way every cell output that is missing
SENTINELS = ("summary/aggregate.done", "report/report.done")


def _stage_files(base: Path, stages: tuple[str, ...]) -> list[Path]:
    return [base / stage / name for stage in stages for name in OUTPUTS[stage]]


def _later_phases(cell: Path, phase: str) -> list[Path]:
    """The outputs of the phases after ``phase`` of a multi-phase cell, and the cell's own: each
    later phase starts from the previous phase's model (or its out-of-fold masks)."""
    try:
        names = registry.phases(cell.parts[-5].removeprefix("method="))
    except (registry.UnknownIdError, IndexError):
        names = []
    later = names[names.index(phase) + 1:-1] if phase in names else []
    paths = []
    for name in later:
        base = cell / f"phase={name}"
        paths += _stage_files(base, ORDER)
        paths += [p for half in sorted(base.glob("half=*")) for p in _stage_files(half, ORDER)]
    return paths + _stage_files(cell, ORDER)


def derived(out_dir: str | Path, stage: str) -> list[Path]:
    """The declared outputs that a new run of ``stage`` writing ``out_dir`` (``<X>/train``,
    ``<X>/predict`` or ``<X>/evaluate``) makes stale."""
    if stage not in ORDER:
        return []
    base = Path(out_dir).parent
    paths = _stage_files(base, ORDER[ORDER.index(stage) + 1:])
    cell, sep, rest = base.as_posix().partition(PHASE_SEP)
    # later phases start from an earlier phase's model and train on its halves' out-of-fold
    # masks; its own predict and evaluate (a scored phase) feed nothing later
    feeds_later = stage == "train" or (stage == "predict" and "/half=" in f"/{rest}")
    if sep and feeds_later:
        paths += _later_phases(Path(cell), rest.split("/")[0])
    return paths


def invalidate(out_dir: str | Path, stage: str, results: str | Path | None = None
               ) -> list[Path]:
    """Remove the outputs derived from ``stage`` at ``out_dir`` (see the module docstring) and,
    given the ``results`` root, the grid's :data:`SENTINELS`; the removed paths are returned."""
    removed = []
    grid_level = [Path(results) / name for name in SENTINELS] if results is not None else []
    for path in [*derived(out_dir, stage), *grid_level]:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def stale_reason(inputs: list[Path], root: Path, seen: dict[Path, bool] | None = None
                 ) -> str | None:
    """Why metrics made from ``inputs`` no longer describe them (one of them is gone), else
    ``None``. ``seen`` caches whether a path exists (inputs shared by many cells).

    Only "gone" is checked: an input that is *newer* Snakemake sees itself, and it rightly skips
    the rerun when the new file has the checksum it recorded (a split rewritten byte for byte), so
    an mtime test here would call such a cell stale for ever. Paths in the message are relative to
    ``root`` (the results folder), as Snakemake's ``--forcerun`` takes them from the work folder.
    """
    seen = {} if seen is None else seen
    for path in inputs:
        if path not in seen:
            seen[path] = path.exists()
        if not seen[path]:
            name = path.relative_to(root.parent) if path.is_relative_to(root.parent) else path
            return (f"made from {name}, which is gone (its job failed, was forced or killed "
                    f"after these metrics were made); remake it: snakemake --forcerun {name}")
    return None
