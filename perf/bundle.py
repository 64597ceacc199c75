"""Bundle export and import at 20,000 cells: two halves of a generated grid exported from two
folders, imported into a third, then re-imported (every cell already there, identical).

Run: ``.venv/bin/python perf/bundle.py [--cells 20000] [--results DIR]``. The tree comes from
tests/results_tree.py (two cases per cell, a benchmark file and a status record per cell's
evaluate stage); ``--results`` times a real results tree instead (exported whole, imported into an
empty folder).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.stages import bundle  # noqa: E402
from tests import results_tree  # noqa: E402


def timed(label: str, rows: list, func, *args):
    start = time.perf_counter()
    out = func(*args)
    rows.append((label, time.perf_counter() - start))
    return out


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.2f} MB"


def real_tree(results: Path, tmp: Path, rows: list) -> None:
    out = tmp / "all.tar.gz"
    manifest = timed("export", rows, bundle.export, results, out, None, "here")
    print(f"{len(manifest['cells'])} cells, {len(manifest['files'])} files, bundle {_mb(out)}")
    timed("import into an empty folder", rows, bundle.import_bundles, tmp / "C" / "results",
          [out], None)
    timed("import again (every cell identical)", rows, bundle.import_bundles,
          tmp / "C" / "results", [out], None)


def generated(n_cells: int, tmp: Path, rows: list) -> None:
    runs = results_tree.grid_cells(n_cells)
    halves = {"A": runs[: n_cells // 2], "B": runs[n_cells // 2:]}
    start = time.perf_counter()
    for name, part in halves.items():
        results_tree.write_tree(tmp / name / "results", part)
    print(f"generated {n_cells} cells in two folders in {time.perf_counter() - start:.1f} s")
    for name in halves:
        out = tmp / f"{name}.tar.gz"
        manifest = timed(f"export {name} ({len(halves[name])} cells)", rows, bundle.export,
                         tmp / name / "results", out, None, name)
        print(f"bundle {name}: {len(manifest['files'])} files, {_mb(out)}")
    merged = tmp / "C" / "results"
    timed("import A + B into an empty folder", rows, bundle.import_bundles, merged,
          [tmp / "A.tar.gz", tmp / "B.tar.gz"], None)
    timed("import A again (every cell identical)", rows, bundle.import_bundles, merged,
          [tmp / "A.tar.gz"], None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=20_000)
    parser.add_argument("--results", type=Path, help="a real results tree instead")
    args = parser.parse_args()
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bundle-") as tmp:
        if args.results:
            real_tree(args.results, Path(tmp), rows)
        else:
            generated(args.cells, Path(tmp), rows)
    print(f"{'step':<44}{'wall s':>8}")
    for label, seconds in rows:
        print(f"{label:<44}{seconds:>8.2f}")


if __name__ == "__main__":
    main()
