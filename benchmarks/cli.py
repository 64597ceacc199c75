"""The single entry point: ``python -m benchmarks.cli <stage> [--out PATH] [key=value ...]``.

Stages: make-data, split, train, predict, evaluate, throughput, aggregate, report, check;
bundle export/import (results of several sites merged into one grid);
fetch-weights (login node only: the one command that downloads). Each subcommand parses, composes
the config, calls one function and returns (style guide B7: <= 15 lines each).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from benchmarks.core import offline

offline.apply()  # before any third-party import: no network attempt from any stage


@contextmanager
def _stage(out: Path, stage: str) -> Iterator[None]:
    """Hold the lock of ``stage`` of the cell (or the dataset, for split and prompts) that ``out``
    belongs to, so that one process writes it at a time, and record running/done/failed there;
    configuration errors inside the block are recorded as failures too. The outputs derived from
    this stage's are removed first (``runs.freshness``): a failed or killed run must not leave
    them looking current."""
    from benchmarks.core.io import as_write_error
    from benchmarks.runs import cell_lock, freshness, status

    found = status.owner(out)
    if not found:
        yield
        return
    lock = status.lock_path(*found, stage)
    with ExitStack() as held:
        try:  # a read-only or full results folder: one message naming it, not a bare OSError
            freshness.invalidate(out, stage, found[0])  # before the lock wait (a kill then ...)
            held.enter_context(cell_lock.held(lock))
            status.record(*found, stage, "running")
        except OSError as err:
            named = as_write_error(err, lock)
            if named is err:
                raise
            raise named from err
        try:
            yield
        except BaseException as err:
            status.record(*found, stage, "failed", error=f"{type(err).__name__}: {err}")
            raise
        status.record(*found, stage, "done")


def _with_split(args: argparse.Namespace) -> list[str]:
    """The overrides plus ``split_file``, quoted for Hydra (Hive paths contain '=')."""
    return [*args.overrides, f"split_file='{args.split}'"]


def cmd_make_data(args: argparse.Namespace) -> int:
    """Write the embedded synthetic 2D (``bus``) or 3D (``ct``) set."""
    from benchmarks.data import synthetic

    writer = {"bus": synthetic.write_bus, "ct": synthetic.write_ct}[args.kind]
    table = writer(Path(args.out), n_cases=args.n, seed=args.seed)
    print(f"wrote {len(table)} cases to {args.out}")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    """Write the patient-level split of one dataset."""
    from benchmarks.data import splits
    from benchmarks.runs import config

    with _stage(Path(args.out), "split"):
        cfg = config.compose_run(args.overrides, with_method=False)
        sha = splits.write_for(*config.dataset_config(cfg), cfg.dataset_id, Path(args.out),
                               train_from=cfg.train_from)
    print(f"split {args.out} sha256={sha}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train one grid cell; ``--out`` is its ``train/`` folder."""
    from benchmarks.runs import config
    from benchmarks.stages import train

    with _stage(Path(args.out), "train"):
        cfg = config.compose_run(_with_split(args))
        info = train.run(cfg, Path(args.out), Path(args.init) if args.init else None,
                         args.part, [Path(p) for p in args.coarse_masks])
    print(f"trained: weights={info['weights']} seconds={info['train_seconds']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict the test fold with a trained model."""
    from benchmarks.runs import config
    from benchmarks.stages import predict

    with _stage(Path(args.out), "predict"):
        cfg = config.compose_run(_with_split(args))
        table = predict.run(cfg, Path(args.model), Path(args.out), args.part)
    print(table["status"].value_counts().to_string())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score the predictions of one cell."""
    import json

    from benchmarks.runs import config
    from benchmarks.stages import evaluate

    with _stage(Path(args.out).parent, "evaluate"):
        resolved = Path(args.provenance).with_name("config.resolved.yaml")  # train writes both
        cfg = config.compose_trained(_with_split(args), resolved)
        prov = json.loads(Path(args.provenance).read_text())
        table = evaluate.run(cfg, Path(args.pred), prov, Path(args.out))
    print(table[["dice", "iou", "hd95"]].describe().to_string())
    return 0


def cmd_aggregate(args: argparse.Namespace) -> int:
    """Collect the files of the cells listed in ``--cells`` into ``results/summary``."""
    from benchmarks.stages import aggregate

    aggregate.run(args.cells, args.results, Path(args.out))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Render the HTML report from the summary tables."""
    from benchmarks.stages import report

    report.run(Path(args.summary), Path(args.out))
    print(f"report: {args.out}")
    return 0


def cmd_throughput(args: argparse.Namespace) -> int:
    """Time one method x backbone x input size (latency, offline throughput, memory, FLOPs)."""
    from benchmarks.runs import config
    from benchmarks.stages import throughput

    table = throughput.run(config.compose_throughput(args.overrides), Path(args.out))
    print(table.drop(columns=["error"], errors="ignore").to_string(index=False))
    return 0


def cmd_throughput_summary(args: argparse.Namespace) -> int:
    """Collect the declared throughput files into one summary table (CSV and Parquet)."""
    from benchmarks.core.io import write_summary
    from benchmarks.runs import throughput_plan

    write_summary(args.out, throughput_plan.collect(args.inputs))
    return 0


def cmd_provenance_summary(args: argparse.Namespace) -> int:
    """One provenance row per trained cell (git, container, weights, budget) into the summary."""
    from benchmarks.core.io import write_summary
    from benchmarks.report import provenance_table

    out = Path(args.out)
    write_summary(out, provenance_table.collect(args.cells, args.results, out.parent / ".cache"))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """List methods and loaders and validate every card (``--markdown`` for the README)."""
    from benchmarks.stages import check

    return check.run(markdown=args.markdown)


def cmd_check_data(args: argparse.Namespace) -> int:
    """Load every case of a dataset; print counts and problems (exit 1 when there are any)."""
    from benchmarks.stages import check_data

    return check_data.run(args.dataset, args.root, args.overrides)


def cmd_prompts(args: argparse.Namespace) -> int:
    """Write the prompts file of one (dataset, split, protocol, seed)."""
    from benchmarks.data import prompts
    from benchmarks.runs import config

    with _stage(Path(args.out), "prompts"):
        cfg = config.compose_run(args.overrides, with_method=False)
        sha = prompts.write_for(*config.dataset_config(cfg), Path(args.split), args.protocol,
                                args.seed, Path(args.out))
    print(f"prompts {args.out} sha256={sha}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    """Rerun one grid cell (``--cell`` = its results path) as one cluster job; print its end."""
    from benchmarks.runs import grid, submit

    run = grid.parse_path(args.cell)
    slurm = {f"slurm_{k}": v for k, v in (("partition", args.partition),
                                          ("account", args.account)) if v}
    job = submit.submit(Path(args.configfile), run, cluster=args.cluster, **slurm)
    state = submit.wait(job)
    print(submit.report(args.results, run, job.job_id, state))
    return 0 if state == "COMPLETED" else 1


def cmd_status(args: argparse.Namespace) -> int:
    """Settle the records of killed jobs from Slurm's account; print every attempt that failed."""
    from benchmarks.runs import status

    table = status.failure_table(args.results)
    print(table.to_string(index=False) if len(table) else "no failed attempts")
    return 0


def cmd_fetch_weights(args: argparse.Namespace) -> int:
    """Download the weights files a config needs into paths.checkpoints (login node, internet)."""
    import yaml

    from benchmarks.stages import fetch_weights

    config = yaml.safe_load(Path(args.configfile).read_text())
    root = args.checkpoints or (config.get("paths") or {}).get("checkpoints", "checkpoints")
    return fetch_weights.run(config, Path(root), args.all, args.method)


def cmd_bundle(args: argparse.Namespace) -> int:
    """Export finished cells with their provenance into one file, or import such files."""
    import socket

    from benchmarks.stages import bundle

    results = Path(args.results)
    if args.action == "export":
        manifest = bundle.export(results, Path(args.out), args.cells,
                                 args.site or socket.gethostname(), args.with_weights)
        size = Path(args.out).stat().st_size
        print(f"bundle {args.out}: {len(manifest['cells'])} cells, {len(manifest['files'])} "
              f"files, {size / 1e6:.2f} MB, site {manifest['site']}")
        return 0
    plan = bundle.import_bundles(results, [Path(b) for b in args.bundles], args.prefer)
    print("\n".join([*plan.notes, f"imported {len(plan.taken)} cells into {results}"]))
    if args.report:
        print(f"report: {bundle.refresh_report(results)}")
    return 0


def _bundle_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bundle", help=cmd_bundle.__doc__)
    parser.set_defaults(func=cmd_bundle)
    actions = parser.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="finished cells -> one .tar.gz with a manifest")
    export.add_argument("--out", required=True, help="the bundle file, e.g. grid-A.tar.gz")
    export.add_argument("--cells", nargs="*", help="cell patterns (dataset=busbra/*) or a "
                        "cells.tsv; default: every finished cell")
    export.add_argument("--site", help="name of this site in the merged report (default: host)")
    export.add_argument("--with-weights", action="store_true", help="include model weights")
    imp = actions.add_parser("import", help="merge bundles into results/ (all or nothing)")
    imp.add_argument("bundles", nargs="+")
    imp.add_argument("--prefer", choices=["newer", "mine", "theirs"],
                     help="which result of a cell present on both sides to keep")
    imp.add_argument("--report", action="store_true", help="then aggregate and render the report")
    for p in (export, imp):
        p.add_argument("--results", default="results")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    specs: dict[str, tuple[Callable[[argparse.Namespace], int], list[str]]] = {
        "make-data": (cmd_make_data, ["--kind", "--out"]),
        "split": (cmd_split, ["--out"]),
        "train": (cmd_train, ["--split", "--out"]),
        "predict": (cmd_predict, ["--split", "--model", "--out"]),
        "evaluate": (cmd_evaluate, ["--split", "--pred", "--provenance", "--out"]),
        "aggregate": (cmd_aggregate, ["--out"]),
        "report": (cmd_report, ["--summary", "--out"]),
        "throughput": (cmd_throughput, ["--out"]),
        "throughput-summary": (cmd_throughput_summary, ["--out"]),
        "provenance-summary": (cmd_provenance_summary, ["--out"]),
        "check": (cmd_check, []),
        "submit": (cmd_submit, ["--cell"]),
        "status": (cmd_status, []),
        "check-data": (cmd_check_data, ["--dataset", "--root"]),
        "prompts": (cmd_prompts, ["--split", "--protocol", "--out"]),
        "fetch-weights": (cmd_fetch_weights, []),
    }
    for name, (func, required) in specs.items():
        p = sub.add_parser(name, help=func.__doc__)
        for flag in required:
            p.add_argument(flag, required=True)
        p.set_defaults(func=func)
        if name in ("split", "train", "predict", "evaluate", "check-data", "prompts",
                    "throughput"):
            p.add_argument("overrides", nargs="*", help="Hydra overrides, key=value")
    _extra_arguments(sub.choices)
    _bundle_parser(sub)
    return parser


def _extra_arguments(choices: dict[str, argparse.ArgumentParser]) -> None:
    choices["make-data"].add_argument("--n", type=int, default=40, help="number of cases")
    choices["make-data"].add_argument("--seed", type=int, default=0)
    choices["train"].add_argument("--init", help="previous phase's model.pt (multi-phase methods)")
    choices["train"].add_argument("--part", default="train", choices=["train", "train_half0",
                                  "train_half1"], help="training cases: all, or one half (the "
                                  "out-of-fold models of benchmarks/data/oof.py)")
    choices["train"].add_argument("--coarse-masks", action="append", default=[],
                                  help="an out-of-fold predictions.npz (multi-phase methods); "
                                  "once per training half")
    choices["predict"].add_argument("--part", default="test", choices=["test", "train_half0",
                                    "train_half1"], help="cases to predict; a training half "
                                    "gives out-of-fold soft masks and oof.json")
    choices["aggregate"].add_argument("--cells", default="results/summary/cells.tsv",
                                      help="cell list written by the Snakefile at parse time")
    choices["aggregate"].add_argument("--results", default="results")
    choices["check"].add_argument("--markdown", action="store_true")
    choices["throughput-summary"].add_argument("--inputs", nargs="*", default=[])
    choices["provenance-summary"].add_argument("--cells", required=True, help="cells.tsv")
    choices["provenance-summary"].add_argument("--results", default="results")
    choices["submit"].add_argument("--configfile", default="config.yaml")
    choices["submit"].add_argument("--cluster", choices=["slurm", "local", "debug"])
    choices["submit"].add_argument("--partition")
    choices["submit"].add_argument("--account")
    choices["submit"].add_argument("--results", default="results")
    choices["status"].add_argument("--results", default="results")
    choices["prompts"].add_argument("--seed", type=int, default=0, help="prompt sampling seed")
    fetch = choices["fetch-weights"]
    fetch.add_argument("--configfile", default="config.yaml", help="the grid whose weights to get")
    fetch.add_argument("--checkpoints", help="target folder (default: the config's "
                       "paths.checkpoints)")
    fetch.add_argument("--all", action="store_true",
                       help="every registry file of the config's methods, not only those named "
                            "by method.weights")
    fetch.add_argument("--method", action="append", help="only this method (repeatable)")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input or configuration: one line naming the key or file, no traceback."""
    from benchmarks.core import registry, weights
    from benchmarks.core.io import ResultsWriteError
    from benchmarks.data import oof, prompts, splits
    from benchmarks.data.base import DataError
    from benchmarks.runs import bundle_manifest, cell_lock, config, grid
    from benchmarks.stages import evaluate, fetch_weights
    from methods._api import WeightsError

    return (config.ConfigError, grid.GridError, registry.UnknownIdError, splits.SplitError,
            weights.WeightsFileError, WeightsError, DataError, prompts.PromptError,
            ResultsWriteError, evaluate.PredictionFileError, cell_lock.CellBusyError,
            fetch_weights.FetchError, oof.OOFError, bundle_manifest.BundleError)


def main(argv: list[str] | None = None) -> int:
    """Parse and dispatch; a user error prints one line and exits 2, a crash its traceback."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except _user_errors() as err:
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
