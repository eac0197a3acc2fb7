"""``thermognn export``: study rows with their labels, energy, forces and stress → extxyz ….

Write the selected rows of a study database to any format ASE writes. Energy, forces
and stress travel as the frames' calculator results (extxyz: energy and stress in info,
forces in arrays), the labels and every other key-value pair (and row_id) in info: ready
for MACE, NequIP or CHGNet fine-tuning, and for `thermognn train --data`.
"""

from __future__ import annotations

import argparse

from thermognn.cli.common import add_command, add_config_option, resolve_config


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "export", __doc__)
    p.add_argument("--db", required=True, help="study database")
    p.add_argument("--out", required=True, help="output file (its extension picks the format)")
    p.add_argument("--format", default=None, help="ASE format name (default: from --out)")
    p.add_argument(
        "--query", default="labeled=1", help="ASE selection (default: labeled=1; '' = all rows)"
    )
    add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from thermognn.database import StudyDatabase
    from thermognn.database.export import export_structures

    resolve_config(args, args.parser, "export")
    db = StudyDatabase(args.db, create=False)
    n = export_structures(db, args.out, format=args.format, query=args.query or None)
    print(f"{n} rows → {args.out}")
    return 0
