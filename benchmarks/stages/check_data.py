"""`cli check-data`: load every case of a dataset and report counts and problems.

A problem is anything that would stop a case from being scored: an unreadable or missing file, an
image/mask size mismatch, a file the layout cannot place, a loader-specific inconsistency, or an
empty label in a 3D task. Cases skipped by a loader policy are listed with their reason, not
counted as problems (the user asked for the skip). The exit status is 1 when there are problems.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from benchmarks.data.base import SKIP_KEY, CaseRef, DataError, check_min_size


@dataclass
class DataReport:
    """What ``check-data`` found."""

    dataset: str
    root: str
    counts: dict[str, int] = field(default_factory=dict)
    subsets: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _check_case(loader: ModuleType, dcfg: Any, ref: CaseRef, report: DataReport) -> None:
    try:
        sample = loader.load_case(ref, dcfg)
        check_min_size(sample, ref.image, dcfg.min_size)
    except DataError as err:
        report.problems.append(str(err))
        return
    report.counts["loaded"] += 1
    if not sample.mask.any():
        report.counts["empty masks"] += 1
        if dcfg.dims == "3d":
            present = sample.meta.get("labels_present", [])
            report.problems.append(f"{ref.masks[0]}: label {sample.meta.get('label')} is absent "
                                   f"(labels present: {present}); check dataset.label/organ")
    hook = getattr(loader, "case_problems", None)
    if hook is not None:
        report.problems.extend(hook(ref, sample, dcfg))


def inspect(loader: ModuleType, dcfg: Any, dataset: str) -> DataReport:
    """Load every listed case of ``dcfg`` and collect counts and problems."""
    report = DataReport(dataset, dcfg.root)
    cases = loader.list_cases(dcfg)
    report.counts = Counter({
        "images": len(cases),
        "masks": sum(len(c.masks) for c in cases),
        "multi-mask cases": sum(len(c.masks) > 1 for c in cases),
        "patients": len({c.patient_id for c in cases}),
        "loaded": 0,
        "empty masks": 0,
    })
    if not cases:  # class folders that exist but are empty listed nothing (issue 19 item 7)
        report.problems.append(f"{dcfg.root}: no cases found; check dataset.root and that its "
                               "folders hold the release's images and masks")
    for ref in cases:
        report.subsets[ref.subset] += 1
        if SKIP_KEY in ref.extra:
            report.skipped.append(f"{ref.case_id}: {ref.extra[SKIP_KEY]}")
            continue
        _check_case(loader, dcfg, ref, report)
    audit = getattr(loader, "layout_problems", None)
    report.problems.extend(audit(dcfg) if audit else [])
    report.counts["skipped"] = len(report.skipped)
    report.counts["problems"] = len(report.problems)
    return report


def format_report(report: DataReport) -> str:
    """Human-readable counts, then every skipped case and every problem on its own line."""
    lines = [f"dataset {report.dataset} at {report.root}"]
    lines += [f"  {name:<17} {value}" for name, value in report.counts.items()]
    lines.append("  subsets           " + ", ".join(f"{k}={v}" for k, v in
                                                  sorted(report.subsets.items())))
    lines += [f"skipped: {line}" for line in report.skipped]
    lines += [f"problem: {line}" for line in report.problems]
    return "\n".join(lines)


def run(dataset: str, root: str, overrides: list[str]) -> int:
    """Compose the dataset config, inspect it, print the report; 1 when there are problems."""
    from benchmarks.runs import config

    cfg = config.compose_run([f"dataset={dataset}", f"dataset_id={dataset}",
                              f"dataset.root='{root}'", *overrides], with_method=False)
    loader, dcfg = config.dataset_config(cfg)
    report = inspect(loader, dcfg, dataset)
    print(format_report(report))
    return 1 if report.problems else 0
