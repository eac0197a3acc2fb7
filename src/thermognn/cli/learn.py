"""``thermognn learn``: active learning — label the candidates a deep ensemble is least sure of.

Draws a candidate pool with a sampling scheme, labels ``--initial`` random candidates,
then, round after round, trains an ensemble (``--ensemble`` members) on what is
labeled and labels the ``--per-round`` candidates chosen by ``--acquisition`` (default
``diverse``: largest calibrated spread, spread out in structure space), until
``--budget`` labels are spent, the validation MAE reaches ``--target-mae`` or the pool
is exhausted. Labels come from the labeling runner on Dask; rerun the same command to
resume, or with a larger ``--budget`` to continue. Every chosen row records why
(``al_run``, ``al_round``, ``al_reason``, ``al_std``, ``al_score``).
"""

from __future__ import annotations

import argparse

from thermognn.cli import common
from thermognn.cli.train import SETTING_OPTIONS
from thermognn.learning.acquisition import STRATEGIES

#: ``LearnSettings`` fields set by options of the same name: (type, help).
LEARN_OPTIONS: dict[str, tuple[type, str]] = {
    "label": (str, "label whose spread drives the choice (default band_gap)"),
    "initial": (int, "random labeled cells of round 0 (default 20)"),
    "pool": (int, "candidate configurations drawn (default 200)"),
    "per_round": (int, "cells labeled per round (default 10)"),
    "budget": (int, "most labels spent in all (default 100)"),
    "target_mae": (float, "stop at this validation MAE of the ensemble (label unit)"),
    "ensemble": (int, "members per ensemble (default 5)"),
    "shortlist": (float, "diverse: consider shortlist × per-round largest spreads (default 4)"),
    "val_fraction": (float, "labeled share held out for validation (default 0.2)"),
}
#: Training options of ``thermognn train`` that ``learn`` passes to its members.
TRAIN_OPTIONS = {k: v for k, v in SETTING_OPTIONS.items() if k not in ("seed",)}


def register(sub: argparse._SubParsersAction) -> None:
    p = common.add_command(sub, "learn", __doc__)
    p.add_argument("--db", help="study database")
    p.add_argument("--out", help="learning run folder (resumed when it exists)")
    p.add_argument("--name", default=None, help="run name in the database (default: folder name)")
    p.add_argument("--seed", type=int, default=0, help="seed of pool, draws and members")
    common.add_setting_options(p, LEARN_OPTIONS)
    p.add_argument(
        "--acquisition",
        default=None,
        choices=STRATEGIES,
        help="how candidates are chosen (default diverse)",
    )
    s = p.add_argument_group("candidate pool (as thermognn sample)")
    s.add_argument("--material", default="Ag3SBr", help="built-in name or structure file")
    s.add_argument("--supercell", type=common.parse_supercell, default=(2, 2, 2))
    s.add_argument("--scheme", default="phonon", help="a registered draw scheme")
    s.add_argument("--temperature", default="150:600", help="K: value, list or MIN:MAX range")
    s.add_argument(
        "--amplitude", type=common.parse_range, default=(0.1, 0.8), help="random: MIN:MAX Å"
    )
    s.add_argument("--phonons", default=None, help="phonopy folder/yaml (default: computed)")
    s.add_argument("--calculator", default="gfn1-xtb", help="calculator of the phonons")
    lab = p.add_argument_group("labels (as thermognn label)")
    lab.add_argument("--labeler", default="gfn1-xtb", help="labeler name")
    common.add_dask_options(lab)
    t = p.add_argument_group("members' training (as thermognn train)")
    common.add_setting_options(t, TRAIN_OPTIONS)
    common.add_hparam_options(t, "any other model setting, e.g. n_rbf=48 (repeatable)")
    common.add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from thermognn.cli.train import train_settings
    from thermognn.errors import ThermognnError
    from thermognn.learning.loop import run_learning
    from thermognn.learning.settings import LearnSettings
    from thermognn.sampling import SamplingSpec
    from thermognn.settings import validated

    common.resolve_config(args, args.parser, "learn")
    for option in ("db", "out"):
        if not getattr(args, option):
            raise ThermognnError(f"--{option} is required (on the command line or in --config)")
    given = common.option_values(args, [*LEARN_OPTIONS, "acquisition"])
    settings = validated(LearnSettings, {k: v for k, v in given.items() if v is not None}, "learn")
    text = str(args.temperature)
    trange = common.parse_range(text) if text.count(":") == 1 else None
    spec = SamplingSpec(
        **common.option_values(args, ("material", "scheme", "phonons", "calculator")),
        n=settings.pool,
        supercell=tuple(args.supercell),
        temperatures=[300.0] if trange else common.parse_floats(text),
        temperature_range=trange,
        amplitude=tuple(args.amplitude),
    )
    # the members' seeds follow the run's seed (run_learning sets them)
    train = train_settings(argparse.Namespace(**{**vars(args), "seed": None}))
    console = Console(stderr=True)
    result = run_learning(
        args.db,
        args.out,
        sampling=spec,
        settings=settings,
        train=train,
        **common.option_values(args, ("labeler", "workers", "scheduler", "name", "seed")),
        progress=lambda line: console.print(f"[bold]learn[/bold] {line}"),
    )
    for row in result.rounds:
        print(
            f"round {row['round']}: {row['labels_spent']} labels ({row['failed']} failed), "
            f"validation MAE {row['val_mae']:.4g}, pool spread mean {row['pool_mean_std']:.3g} "
            f"max {row['pool_max_std']:.3g}"
        )
    print(f"{result.out}: stopped ({result.stop_reason}); final ensemble {result.final_model}")
    return 0
