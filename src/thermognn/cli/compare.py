"""``thermognn compare``: MD vs phonon data sets, one model each, cross-scored (paper SI Table 1).

Train one model per scheme on equally many structures and report train/validation/test
metrics on its own data and on the other scheme's data (complementary), on Dask. Like
for like: the same material(s) on both sides, a test set reserved per set first
(MD snapshots by whole trajectory blocks), equally many training structures per set,
paired seeds, every model scored on every test set. Writes the experiment folder
(``results.csv``, ``test_sets.json``, ``differences.csv``; re-run to resume) plus
``comparison.md`` and ``displacements.json``.
"""

from __future__ import annotations

import argparse
from typing import Any

from thermognn.cli import sweep
from thermognn.cli.common import add_command, add_config_option, add_setting_options

#: Options that pick the compared sets' rows, each ``None`` unless given: (type, help).
SET_OPTIONS: dict[str, tuple[type, str]] = {
    "n": (int, "training structures per set (default: as many as every pool allows)"),
    "material": (str, "materials of both sides (default: those all sets hold)"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "compare", __doc__)
    sweep.add_data_options(p, label="band_gap")
    p.add_argument("--schemes", default="md,phonon", help="schemes compared, comma list")
    p.add_argument("--seeds", type=int, default=5, help="paired seeds")
    add_setting_options(p, SET_OPTIONS)
    sweep.add_run_options(p)
    add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markdown import Markdown

    from thermognn.studies import run_md_comparison

    result = sweep.run_study(args, "compare", "comparison", run_md_comparison, **options(args))
    console = Console()
    console.print(Markdown(result.markdown))
    console.print(
        f"{result.out}: results.csv, test_sets.json, differences.csv, comparison.md "
        f"({result.ran} models trained now, {result.skipped} already recorded)"
    )
    return 0


def options(args: argparse.Namespace) -> dict[str, Any]:
    """Keywords of :func:`~thermognn.studies.run_md_comparison` from the command's options."""
    return {
        "label": args.label,
        "schemes": sweep.split_list(args.schemes) or [],
        "material": sweep.split_list(args.material),
        "n": args.n,
        "seeds": args.seeds,
    }
