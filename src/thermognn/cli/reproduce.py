"""``thermognn reproduce``: the paper's whole study on the bundled data set.

Sweep, best models for the four labels, phonon-vs-random learning curves, MD
comparison, explanations, E_g(T) and an HTML report. Resumable: finished stages are
kept.
"""

from __future__ import annotations

import argparse

from thermognn.cli.common import add_command, add_dask_options, parse_supercell


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "reproduce", __doc__)
    p.add_argument("--out", default="runs/reproduce", help="run folder")
    p.add_argument("--preset", default="quick", help="quick (default), paper, smoke")
    p.add_argument("--db", default=None, help="use this study database instead of the bundled one")
    p.add_argument("--relabel", action="store_true", help="rebuild the data set from scratch")
    p.add_argument(
        "--recipe",
        default=None,
        help="data-set recipe TOML for --relabel (default: the bundled one)",
    )
    add_dask_options(p, "Dask workers (default: one per core; one cluster for every stage)")
    p.add_argument("--material", default="Ag3SBr", help="material of the E_g(T) curve")
    p.add_argument(
        "--supercell",
        type=parse_supercell,
        default=(2, 2, 2),
        help="supercell of the E_g(T) curve (must match the training cells)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from thermognn.cli.common import option_values, progress_callback
    from thermognn.paper.reproduce import reproduce

    console = Console(stderr=True)
    with progress_callback("reproduce") as cb:
        path = reproduce(
            args.out,
            **option_values(
                args,
                ("preset", "db", "relabel", "recipe", "workers", "scheduler", "material"),
            ),
            supercell=tuple(args.supercell),
            status=lambda m: console.print(m, style="bold"),
            progress=cb,
        )
    print(path)
    return 0
