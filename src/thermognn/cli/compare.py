"""``thermognn compare``: the MD vs phonon table (paper SI Table 1), on Dask.

One model per scheme on equally many structures, scored on its own train/val/test
splits and on the other scheme's structures ("complementary"). Writes
``OUT/comparison.csv`` (re-run to resume), ``OUT/selection.json`` and
``OUT/comparison.md``.
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
        "compare",
        help="MD vs phonon data sets: one model each, cross-scored (paper SI Table 1)",
        description="Train one model per scheme on equally many structures and report "
        "train/validation/test metrics on its own data and on the other scheme's data "
        "(complementary); write comparison.csv and comparison.md.",
    )
    add_data_options(p, label="band_gap")
    p.add_argument("--schemes", default="md,phonon", help="schemes compared, comma list")
    p.add_argument(
        "--n",
        type=int,
        default=None,
        help="structures per scheme (default: as many as the smallest has)",
    )
    p.add_argument("--seeds", type=int, default=1, help="models per scheme")
    add_model_options(p)
    add_training_options(p)
    add_cluster_options(p)
    add_config_option(p)
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markdown import Markdown

    from thermognn.studies import run_md_comparison

    resolve_config(args, args.parser, "compare")
    require(args, ("db", "label", "out"))
    model, hparams = model_and_hparams(args)
    with progress_callback("comparison") as update:
        result = run_md_comparison(
            args.db,
            schemes=split_list(args.schemes) or [],
            n=args.n,
            seeds=args.seeds,
            model=model,
            hparams=hparams,
            progress=update,
            **common_kwargs(args),
        )
    console = Console()
    console.print(Markdown(result.markdown))
    console.print(
        f"{result.out}: comparison.csv, comparison.md ({result.ran} models trained now, "
        f"{result.skipped} already recorded)"
    )
    return 0
