"""Entry point of the ``thermognn`` command.

Each subcommand lives in ``thermognn/cli/<module>.py`` and exposes ``register(sub)``,
which adds its parser and sets ``func`` to a function taking the parsed namespace.
Heavy libraries are imported inside those functions only, so ``--help`` is instant.
User errors (:class:`thermognn.errors.ThermognnError`) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib import import_module

from thermognn._version import __version__

#: Subcommand modules, in the order ``--help`` lists them (the pipeline's order).
COMMAND_MODULES: tuple[str, ...] = (
    "relax",
    "phonons",
    "sample",
    "label",
    "vasp",
    "dbinfo",
    "export",
    "train",
    "evaluate",
    "sweep",
    "curve",
    "compare",
    "experiment",
    "learn",
    "explain",
    "predict",
    "report",
    "reproduce",
    "run",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (only the registered, importable subcommands)."""
    parser = argparse.ArgumentParser(
        prog="thermognn",
        description="Phonon-informed data sets and graph neural networks for crystals.",
    )
    parser.add_argument("--version", action="version", version=f"thermognn {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = import_module(f"thermognn.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"thermognn.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.verbose < 2:  # Dask logs every worker start at INFO; keep the terminal for progress
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
        for noisy in ("distributed", "dask", "optuna"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from thermognn.errors import ThermognnError

    try:
        result = args.func(args)
    except ThermognnError as exc:
        print(f"thermognn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"thermognn {args.command}: interrupted; finished work is saved", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
