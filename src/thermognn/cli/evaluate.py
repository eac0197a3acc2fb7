"""``thermognn evaluate``: metrics and parity data of trained runs on any selection.

Evaluate a run folder (or a folder of per-label runs) on a selection of a study
database; writes metrics.json and parity.csv per run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from thermognn.cli.common import add_command, add_config_option, resolve_config


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "evaluate", __doc__)
    p.add_argument("run", help="run folder (or a folder of per-label run folders)")
    p.add_argument("--db", help="study database")
    p.add_argument("--query", default="labeled=1", help="ASE selection (default: labeled=1)")
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default: RUN/evaluation; per-label runs get sub-folders)",
    )
    p.add_argument("--missing", default="skip", choices=("skip", "error"))
    p.add_argument("--cache-dir", default=None, help="graph cache folder")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from thermognn.cli.train import print_metrics
    from thermognn.errors import ThermognnError
    from thermognn.training import evaluate_run
    from thermognn.training.checkpoint import find_runs
    from thermognn.training.run import resolve_device

    resolve_config(args, args.parser, "evaluate")
    if not args.db:
        raise ThermognnError("--db is required")
    runs = find_runs(args.run)
    for run_dir in runs:
        evaluation = evaluate_run(
            run_dir,
            args.db,
            args.query or None,
            cache_dir=args.cache_dir,
            missing=args.missing,
            device=str(resolve_device(args.device)),
        )
        if args.out is None:
            folder = run_dir / "evaluation"
        else:
            folder = Path(args.out) / run_dir.name if len(runs) > 1 else Path(args.out)
        evaluation.write(folder)
        print(f"{run_dir}: {len(evaluation.row_ids)} structures; wrote {folder}")
        print_metrics(evaluation.metrics, evaluation.units)
    return 0
