"""``thermognn curve``: learning curves with cross-tests (paper Fig. 4), on Dask.

A test set of ``--test-size`` structures is reserved per scheme first; models trained on
each size × seed × scheme (and on both schemes together) are tested on every scheme's
reserved set and on their union. Writes ``OUT/curves.csv`` (appended as runs finish;
re-run to resume), ``OUT/reserved.json`` and ``OUT/learning_curves.png``.
"""

from __future__ import annotations

import argparse

from thermognn.cli.common import add_config_option, progress_callback, resolve_config
from thermognn.cli.sweep import (
    add_cluster_options,
    add_data_options,
    add_model_options,
    add_training_options,
    common_kwargs,
    model_and_hparams,
    require,
    split_list,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "curve",
        help="learning curves: train size × seeds × scheme, cross-tested (paper Fig. 4)",
        description="Reserve a test set per scheme, train models on increasing numbers of "
        "structures of each scheme (and of both), test each on its own scheme, the "
        "complementary one and the combined set; write curves.csv and learning_curves.png.",
    )
    add_data_options(p, label="band_gap")
    p.add_argument("--schemes", default="phonon,random", help="schemes compared, comma list")
    p.add_argument("--sizes", default="100,250,500,1000", help="training sizes, comma list")
    p.add_argument("--seeds", type=int, default=5, help="runs per point (1–10)")
    p.add_argument("--test-size", type=int, default=250, help="structures reserved per scheme")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.15,
        help="validation structures per training structure (from the pool)",
    )
    p.add_argument("--no-combined", action="store_true", help="skip the combined-training baseline")
    p.add_argument(
        "--on-short",
        default="error",
        choices=("error", "clip"),
        help="a scheme too small for the largest size: error, or clip the sizes",
    )
    p.add_argument(
        "--spread",
        default="std",
        choices=("std", "minmax"),
        help="band of the figure: mean ± std, or min–max over seeds",
    )
    add_model_options(p)
    add_training_options(p)
    add_cluster_options(p)
    p.add_argument("--no-plots", action="store_true", help="skip the figure")
    add_config_option(p)
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from thermognn.studies import run_learning_curves

    resolve_config(args, args.parser, "curve")
    require(args, ("db", "label", "out"))
    model, hparams = model_and_hparams(args)
    with progress_callback("learning curves") as update:
        result = run_learning_curves(
            args.db,
            schemes=split_list(args.schemes) or [],
            sizes=split_list(args.sizes, int) or [],
            seeds=args.seeds,
            test_size=args.test_size,
            val_fraction=args.val_fraction,
            combined=not args.no_combined,
            on_short=args.on_short,
            spread=args.spread,
            model=model,
            hparams=hparams,
            plots=not args.no_plots,
            progress=update,
            **common_kwargs(args),
        )
    failed = {(r["train_scheme"], r["size"], r["seed"]) for r in result.rows if r["status"] != "ok"}
    Console().print(
        f"{result.out}: {len(result.rows)} rows in curves.csv; {result.ran} runs trained now, "
        f"{result.skipped} already recorded"
        + (f"; {len(failed)} runs not ok" if failed else "")
        + "".join(f"; {f.name}" for f in result.figures)
    )
    return 0
