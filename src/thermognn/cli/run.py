"""``thermognn run STUDY.toml``: every stage of a study from one TOML file.

Each section is the options of the subcommand of the same name (``[[sample]]`` may
repeat); ``[study]`` gives ``db`` (passed to every stage that takes ``--db``) and the
study ``name``. Stages run in pipeline order; each is the same code path as the
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
    out = "runs/band_gap"

Positional arguments go in ``args = [...]`` (e.g. ``[report] args = ["runs/x"]``).
"""

from __future__ import annotations

import argparse
from typing import Any

ORDER = (
    "phonons",
    "sample",
    "label",
    "train",
    "evaluate",
    "sweep",
    "curve",
    "compare",
    "explain",
    "predict",
    "report",
)
_TAKES_DB = {"sample", "label", "train", "sweep", "curve", "compare"}
_TAKES_STUDY = {"sample", "label"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run every stage of a TOML study file",
        description=__doc__.split("::")[0] if __doc__ else None,
    )
    p.add_argument("config", help="study TOML file")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.set_defaults(func=run)


def to_argv(command: str, options: dict[str, Any], study: dict[str, Any]) -> list[str]:
    """The command line equivalent to one TOML section."""
    argv = [command, *[str(a) for a in options.get("args", [])]]
    opts = {k: v for k, v in options.items() if k != "args"}
    if command in _TAKES_DB and "db" in study:
        opts.setdefault("db", study["db"])
    if command in _TAKES_STUDY and "name" in study:
        opts.setdefault("study", study["name"])
    for key, value in opts.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            if value:
                argv.append(flag)
        elif isinstance(value, (list, tuple)):
            argv.append(f"{flag}={','.join(str(v) for v in value)}")
        else:
            argv.append(f"{flag}={value}")
    return argv


def run(args: argparse.Namespace) -> int:
    import shlex

    from thermognn.cli.common import load_toml
    from thermognn.cli.main import main
    from thermognn.errors import ThermognnError

    data = load_toml(args.config)
    study = data.get("study", {})
    unknown = set(data) - set(ORDER) - {"study"}
    if unknown:
        raise ThermognnError(f"{args.config}: unknown section(s) {sorted(unknown)}")
    commands = []
    for name in ORDER:
        sections = data.get(name, [])
        for options in sections if isinstance(sections, list) else [sections]:
            commands.append(to_argv(name, options, study))
    if not commands:
        raise ThermognnError(f"{args.config}: no stage sections")
    for argv in commands:
        print("thermognn " + shlex.join(argv), flush=True)
        if args.dry_run:
            continue
        code = main(argv)
        if code:
            raise ThermognnError(f"{args.config}: stage {argv[0]!r} failed (exit {code})")
    return 0
