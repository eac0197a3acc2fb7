"""``thermognn experiment SPEC.toml``: run one experiment (labels × test sets × arms × sizes × seeds).

The file's ``[experiment]`` table is an :class:`~thermognn.settings.ExperimentSpec`::

    [experiment]
    labels = ["band_gap"]
    sizes = [100, 250]
    seeds = 5
    train = { model = "paper-5", hparams = { hidden = 64 } }

    [[experiment.test_sets]]
    name = "phonon"
    select = { sample_set = "phonon", material = "Ag3SBr" }
    size = 100

    [[experiment.arms]]
    name = "phonon"
    select = { sample_set = "phonon", material = "Ag3SBr" }

Writes ``OUT/results.csv``, ``OUT/test_sets.json`` and ``OUT/differences.csv``; re-run
to resume.
"""

from __future__ import annotations

import argparse

from thermognn.cli.common import add_command, add_dask_options, print_differences, progress_callback


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "experiment", __doc__)
    p.add_argument("spec", help="TOML file with an [experiment] table")
    p.add_argument("--db", required=True, help="study database")
    p.add_argument("--out", required=True, help="experiment folder (resumed when it exists)")
    add_dask_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from thermognn.cli.common import load_toml
    from thermognn.errors import ThermognnError
    from thermognn.experiments import run_experiment
    from thermognn.settings import ExperimentSpec, validated

    data = load_toml(args.spec)
    if "experiment" not in data:
        raise ThermognnError(f"{args.spec}: no [experiment] table")
    spec = validated(ExperimentSpec, data["experiment"], "experiment")
    with progress_callback("experiment") as update:
        result = run_experiment(
            args.db,
            spec,
            out=args.out,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=update,
        )
    console = Console()
    print_differences(console, result.differences)
    console.print(
        f"{result.out}: results.csv, test_sets.json, differences.csv ({result.ran} models "
        f"trained now, {result.skipped} already recorded)"
    )
    return 0
