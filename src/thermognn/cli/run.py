"""``thermognn run STUDY.toml``: every stage of a study from one TOML file.

Each section is the options of the subcommand of the same name (any stage may repeat
as an array of tables, e.g. ``[[sample]]``); ``[study]`` gives ``db`` (passed to every
stage that takes ``--db``) and the study ``name``. The whole file is validated before
any stage runs: every error is reported at once, one line each, and nothing is
written. Stages then run in pipeline order, each on the same code path as its
subcommand, so a study file and a shell script of commands are interchangeable::

    [study]
    name = "ag3sbr-demo"
    db = "study.db"

    [[sample]]
    material = "Ag3SBr"
    scheme = "phonon"
    temperature = "150:600"
    n = 200
    seed = 1

    [label]
    workers = 2

    [train]
    label = "band_gap"
    model = "paper-1"
    epochs = 300
    out = "runs/band_gap"

Positional arguments go in ``args = [...]`` (e.g. ``[report] args = ["runs/x"]``).
``[experiment]`` holds an experiment spec (labels, test_sets, arms, sizes, seeds,
train …) and the options of ``thermognn experiment`` (out, workers, scheduler).
"""

from __future__ import annotations

import argparse
import inspect
import shlex
from typing import Any

from thermognn.cli.common import add_command


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "run", __doc__)
    p.add_argument("config", help="study TOML file")
    p.add_argument(
        "--dry-run", action="store_true", help="validate the file and print the plan, run nothing"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from thermognn.cli.main import main
    from thermognn.errors import ThermognnError
    from thermognn.studyfile import load_study

    study = load_study(args.config)
    for stage in study.stages:
        argv = stage.argv()
        note = f"  # spec: {stage.where} of {args.config}" if stage.name == "experiment" else ""
        print("thermognn " + shlex.join(argv) + note, flush=True)
        if args.dry_run:
            continue
        code = _run_experiment(stage) if stage.name == "experiment" else main(argv)
        if code:
            raise ThermognnError(f"{args.config}: stage {stage.where} failed (exit {code})")
    return 0


def _run_experiment(stage: Any) -> int:
    """``[experiment]``: :func:`thermognn.experiments.run_experiment` on the inline spec."""
    from thermognn.cli.common import progress_callback
    from thermognn.experiments import run_experiment

    spec, options = stage.experiment()
    accepted = inspect.signature(run_experiment).parameters
    kwargs = {k: v for k, v in options.items() if k in accepted and k not in ("db", "spec")}
    with progress_callback("experiment") as update:
        result = run_experiment(options["db"], spec, progress=update, **kwargs)
    print(
        f"{result.out}: results.csv, test_sets.json, differences.csv ({result.ran} models "
        f"trained now, {result.skipped} already recorded)"
    )
    return 0
