"""Bundles on generated results trees: two halves exported and imported into a third folder give
the one-folder tree; every conflict kind is refused with its message and nothing changes; a
truncated bundle, a newer format and an interrupted import leave ``results/`` as it was."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.runs import bundle_apply, bundle_archive, grid
from benchmarks.runs import bundle_manifest as bm
from benchmarks.stages import aggregate, bundle
from tests import results_tree

REPO = Path(__file__).parents[2]
RUNS = results_tree.grid_cells(24)  # ds0..ds2 (8 cells each), m0..m3, b0/b1, folds 0..4


def tree_digest(results: Path) -> dict[str, str]:
    """Every file below ``results`` and its sha256 (what 'nothing changed' means)."""
    return {p.relative_to(results).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(results.rglob("*")) if p.is_file()}


def make_tree(results: Path, runs: list[grid.Run], split_text: str = "{}",
              root: Path | None = None) -> Path:
    """A generated tree plus each dataset's split and prompts file, a resolved config naming a
    data folder, and a protocol column in the metrics (what the checks compare)."""
    results_tree.write_tree(results, runs, stages=("evaluate",))
    for run in runs:
        ds = run.dataset
        (results / "splits" / f"dataset={ds}").mkdir(parents=True, exist_ok=True)
        (results / "splits" / f"dataset={ds}" / "split.json").write_text(split_text)
        prompts = results / "prompts" / f"dataset={ds}" / "protocol=box" / "seed=0"
        prompts.mkdir(parents=True, exist_ok=True)
        (prompts / "prompts.json").write_text('{"cases": {}}')
        train = results / "runs" / run.path / "train"
        train.mkdir(parents=True, exist_ok=True)
        data = root or results.parent / "data"
        (train / "config.resolved.yaml").write_text(f"dataset:\n  root: {data / ds}\n")
        (train / "model.pt").write_bytes(b"weights")
        (data / ds).mkdir(parents=True, exist_ok=True)
        (data / ds / "case.png").write_bytes(b"1234")
        metrics = results / "runs" / run.path / "evaluate" / "metrics.csv"
        table = pd.read_csv(metrics).assign(hd95_definition="max_directed")
        table.to_csv(metrics, index=False)
    return results


@pytest.fixture()
def halves(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Bundles A (first half of the cells) and B (second half), and the path of a third tree."""
    for name, runs in (("A", RUNS[:12]), ("B", RUNS[12:])):
        make_tree(tmp_path / name / "results", runs)
        bundle.export(tmp_path / name / "results", tmp_path / f"{name}.tar.gz", None, name)
    return tmp_path / "A.tar.gz", tmp_path / "B.tar.gz", tmp_path / "C" / "results"


def test_two_halves_imported_give_the_one_folder_tables(halves, tmp_path: Path) -> None:
    a, b, merged = halves
    make_tree(tmp_path / "ALL" / "results", RUNS)
    plan = bundle.import_bundles(merged, [a, b], None)
    assert len(plan.taken) == len(RUNS)
    for results in (merged, tmp_path / "ALL" / "results"):
        aggregate.run(results / "summary" / "cells.tsv", results, results / "summary")
    for name in ("metrics.csv", "summary.csv"):
        one = pd.read_csv(tmp_path / "ALL" / "results" / "summary" / name)
        two = pd.read_csv(merged / "summary" / name)
        pd.testing.assert_frame_equal(one, two)
    sites = pd.read_csv(merged / bm.SITES)
    assert sites.groupby("site").size().to_dict() == {"A": 12, "B": 12}
    assert not (merged / "runs" / RUNS[0].path / "train" / "model.pt").exists()  # not asked


def test_reexport_carries_the_original_site_and_identical_cells_merge(halves) -> None:
    a, b, merged = halves
    bundle.import_bundles(merged, [a], None)
    again = merged.parent / "again.tar.gz"
    manifest = bundle.export(merged, again, ["dataset=ds0/*"], "C")
    assert {e["site"] for e in manifest["cells"].values()} == {"A"}
    before = tree_digest(merged)
    bundle.import_bundles(merged, [again], None)  # same results twice: nothing to choose
    after = tree_digest(merged)
    assert {k: v for k, v in after.items() if not k.startswith("bundles/")} == \
        {k: v for k, v in before.items() if not k.startswith("bundles/")}


def _refused(merged: Path, bundles: list[Path], prefer: str | None = None) -> str:
    before = tree_digest(merged) if merged.exists() else {}
    with pytest.raises(bm.BundleError) as err:
        bundle.import_bundles(merged, bundles, prefer)
    assert tree_digest(merged) == before, "a refused import changed results/"
    return str(err.value)


def test_each_conflict_kind_is_refused_with_its_message(tmp_path: Path) -> None:
    base = make_tree(tmp_path / "A" / "results", RUNS[:8])
    bundle.export(base, tmp_path / "A.tar.gz", None, "A")
    other = make_tree(tmp_path / "X" / "results", RUNS[:8], split_text='{"other": 1}',
                      root=tmp_path / "otherdata")
    (tmp_path / "otherdata" / "ds0" / "case.png").write_bytes(b"123456")  # other size
    prompts = other / "prompts" / "dataset=ds0" / "protocol=box" / "seed=0" / "prompts.json"
    prompts.write_text('{"cases": {"c0": 1}}')
    metrics = other / "runs" / RUNS[0].path / "evaluate" / "metrics.csv"
    pd.read_csv(metrics).assign(hd95_definition="pooled", dice=0.5).to_csv(metrics, index=False)
    bundle.export(other, tmp_path / "X.tar.gz", None, "X")
    message = _refused(base, [tmp_path / "X.tar.gz"])
    assert "bundle import refused, 5 conflict(s)" in message
    assert "split of dataset ds0: sha256 " in message and "in results/ (this folder)" in message
    assert "prompts file prompts/dataset=ds0/protocol=box/seed=0/prompts.json" in message
    assert "data of dataset ds0: fingerprint" in message
    assert "metric protocol of dataset ds0: hd95_definition = max_directed in results/ (this " \
           "folder), pooled in X.tar.gz" in message
    assert f"cell {RUNS[0].path}: different metrics in results/ (this folder)" in message
    assert "choose with --prefer newer|mine|theirs" in message


def test_metric_definitions_version_must_match(tmp_path: Path, monkeypatch) -> None:
    base = make_tree(tmp_path / "A" / "results", RUNS[:4])
    make_tree(tmp_path / "B" / "results", RUNS[4:8])
    monkeypatch.setattr(bm, "METRIC_DEFINITIONS_VERSION", 2)
    bundle.export(tmp_path / "B" / "results", tmp_path / "B.tar.gz", None, "B")
    monkeypatch.setattr(bm, "METRIC_DEFINITIONS_VERSION", 1)
    message = _refused(base, [tmp_path / "B.tar.gz"])
    assert "metric definitions version: 1 in results/ (this folder), 2 in B.tar.gz" in message


def _duplicate(tmp_path: Path) -> tuple[Path, Path]:
    """A tree and a bundle holding the same cell with other metrics (the bundle's is newer)."""
    base = make_tree(tmp_path / "A" / "results", RUNS[:2])
    other = make_tree(tmp_path / "B" / "results", RUNS[:2])
    metrics = other / "runs" / RUNS[0].path / "evaluate" / "metrics.csv"
    pd.read_csv(metrics).assign(dice=0.25).to_csv(metrics, index=False)
    record = other / "status" / RUNS[0].path / "evaluate.json"
    record.write_text(json.dumps(json.loads(record.read_text()) | {"time": 2e9}))
    bundle.export(other, tmp_path / "B.tar.gz", None, "B")
    return base, tmp_path / "B.tar.gz"


def _dice(results: Path) -> list[float]:
    return pd.read_csv(results / "runs" / RUNS[0].path / "evaluate" / "metrics.csv")["dice"] \
        .tolist()


@pytest.mark.parametrize(("prefer", "dice"), [("mine", [0.0, 0.5]), ("theirs", [0.25, 0.25]),
                                              ("newer", [0.25, 0.25])])
def test_prefer_resolves_a_duplicate_cell(tmp_path: Path, prefer: str, dice: list) -> None:
    base, other = _duplicate(tmp_path)
    assert "different metrics" in _refused(base, [other])
    plan = bundle.import_bundles(base, [other], prefer)
    assert _dice(base) == dice
    sites = pd.read_csv(base / bm.SITES)
    assert (RUNS[0].path in set(sites["cell"])) == (prefer != "mine")
    assert any(f"(--prefer {prefer})" in n for n in plan.notes)


def test_truncated_and_corrupt_bundles_are_refused(halves) -> None:
    a, _, merged = halves
    make_tree(merged, RUNS[20:22])
    data = a.read_bytes()
    cut = a.with_name("cut.tar.gz")
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated or corrupt bundle" in _refused(merged, [cut])
    flipped = a.with_name("flip.tar.gz")  # valid gzip, one file's bytes changed
    with tarfile.open(a) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]
    with tarfile.open(flipped, "w:gz") as tar:
        for member, content in members:
            if member.name.endswith("metrics.csv") and content:
                content = content.replace(b"0.5", b"0.6")
            tar.addfile(member, None if content is None else io.BytesIO(content))
    assert "differs from its manifest sha256" in _refused(merged, [flipped])


def test_newer_format_is_refused_naming_both_versions(halves) -> None:
    a, _, merged = halves
    manifest = bundle_archive.read_manifest(a) | {"format_version": 99}
    newer = a.with_name("newer.tar.gz")
    with tarfile.open(newer, "w:gz") as tar:
        raw = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    message = _refused(merged, [newer])
    assert f"bundle format version 99; this checkout reads format versions 1 to " \
           f"{bm.FORMAT_VERSION}" in message
    with gzip.open(a) as fh:
        assert fh.read(1)  # the original stays readable


def test_failed_import_rolls_back(halves) -> None:
    a, b, merged = halves
    make_tree(merged, RUNS[:3])
    before = tree_digest(merged)

    def fail(i: int) -> None:
        if i == 7:
            raise OSError("disk full (simulated)")

    with pytest.raises(OSError, match="simulated"):
        bundle.import_bundles(merged, [a, b], "theirs", before_each=fail)
    assert tree_digest(merged) == before and not bundle_apply.work_dir(merged).exists()


def test_killed_import_is_rolled_back_by_the_next_one(halves) -> None:
    a, b, merged = halves
    make_tree(merged, RUNS[:3])
    before = tree_digest(merged)
    code = ("import os, sys; from pathlib import Path; from benchmarks.stages import bundle; "
            "bundle.import_bundles(Path(sys.argv[1]), [Path(sys.argv[2])], 'theirs', "
            "before_each=lambda i: os.kill(os.getpid(), 9) if i == 9 else None)")
    proc = subprocess.run([sys.executable, "-c", code, str(merged), str(a)], cwd=REPO,
                          env=os.environ | {"PYTHONPATH": str(REPO)}, check=False)
    assert proc.returncode == -9
    assert (bundle_apply.work_dir(merged) / bundle_apply.JOURNAL).exists()
    assert bundle_apply.recover(merged).startswith("rolled back an interrupted bundle import")
    lock = merged / bundle.LOCK  # the killed process's lock stays until the next import
    assert {k: v for k, v in tree_digest(merged).items() if k != bundle.LOCK} == before
    plan = bundle.import_bundles(merged, [a], "theirs")  # takes the dead holder's lock over
    assert len(plan.taken) == 9 and not lock.exists()  # 3 of the 12 are here already, equal
