"""``thermognn curve``: learning curves, train size × seeds × scheme, cross-tested (paper Fig. 4).

Reserve a test set per scheme, train models on increasing numbers of structures of each
scheme (and of both), test each on its own scheme, the complementary one and the
combined set, on Dask. A test set of ``--test-size`` structures is reserved per set first; models trained on
each size × paired seed × set (and on every set together) are tested on every set's
reserved rows and on their union. Writes the experiment folder: ``OUT/results.csv``
(appended as models finish; re-run to resume), ``OUT/test_sets.json``,
``OUT/differences.csv`` (paired differences, 95 % intervals) and
``OUT/learning_curves.png``.
"""

from __future__ import annotations

import argparse
from typing import Any

from thermognn.cli import sweep
from thermognn.cli.common import (
    add_choice,
    add_command,
    add_config_option,
    print_differences,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "curve", __doc__)
    sweep.add_data_options(p, label="band_gap")
    p.add_argument("--schemes", default="phonon,random", help="schemes compared, comma list")
    p.add_argument("--sizes", default="100,250,500,1000", help="training sizes, comma list")
    p.add_argument("--seeds", type=int, default=5, help="paired seeds per point")
    p.add_argument("--material", default=None, help="restrict every set to these materials")
    p.add_argument("--test-size", type=int, default=250, help="structures reserved per scheme")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.15,
        help="validation structures per training structure (from the pool)",
    )
    p.add_argument("--no-combined", action="store_true", help="skip the combined-training baseline")
    add_choice(
        p,
        "--on-short",
        ("clip", "error"),
        "a scheme too small for the largest size: error, or clip the sizes",
    )
    add_choice(
        p, "--spread", ("std", "minmax"), "band of the figure: mean ± std, or min–max over seeds"
    )
    sweep.add_run_options(p)
    p.add_argument("--no-plots", action="store_true", help="skip the figure")
    add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from thermognn.studies import run_learning_curves

    result = sweep.run_study(args, "curve", "learning curves", run_learning_curves, **options(args))
    failed = {(r["arm"], r["size"], r["seed"]) for r in result.rows if r["status"] != "ok"}
    console = Console()
    print_differences(console, result.experiment.differences)
    console.print(
        f"{result.out}: {len(result.rows)} rows in results.csv; {result.ran} models trained "
        f"now, {result.skipped} already recorded"
        + (f"; {len(failed)} models not ok" if failed else "")
        + "".join(f"; {f.name}" for f in result.figures)
    )
    return 0


def options(args: argparse.Namespace) -> dict[str, Any]:
    """Keywords of :func:`~thermognn.studies.run_learning_curves` from the command's options."""
    return {
        "label": sweep.split_list(args.label) or [],
        "schemes": sweep.split_list(args.schemes) or [],
        "sizes": sweep.split_list(args.sizes, int) or [],
        "seeds": args.seeds,
        "test_size": args.test_size,
        "val_fraction": args.val_fraction,
        "combined": not args.no_combined,
        "on_short": args.on_short,
        "spread": args.spread,
        "material": sweep.split_list(args.material),
        "query": None if args.query in (None, "", "labeled=1") else args.query,
        "plots": not args.no_plots,
    }
