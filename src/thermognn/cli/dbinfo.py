"""``thermognn db-info``: rows per material and sampling set, labeled, failed, pending."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db-info", help="counts by material/scheme/labeled/failed")
    p.add_argument("db", help="study database")
    p.add_argument("--errors", action="store_true", help="list failed rows with their message")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from thermognn.database import StudyDatabase

    db = StudyDatabase(args.db, create=False)
    table = Table(title=f"{args.db} — study {db.study!r}")
    columns = ("material", "set", "scheme", "total", "labeled", "failed", "pending")
    table.add_column("material", overflow="fold", min_width=8)  # a file path may be long
    table.add_column("set", overflow="fold", min_width=8)
    for col in (*columns[2:], "band gap (eV)"):
        table.add_column(col)
    gaps: dict[tuple[str, str], list[float]] = {}
    for row in db.select("labeled=1,band_gap", include_data=False):  # one pass, not one per group
        gaps.setdefault((row.material, row.get("sample_set", row.scheme)), []).append(row.band_gap)
    for c in db.counts():
        g = gaps.get((c["material"], c["sample_set"]), [])
        gap = f"{np.mean(g):.3f} ± {np.std(g):.3f}" if g else ""
        table.add_row(
            c["material"],
            c["sample_set"],
            c["scheme"],
            *(str(c[k]) for k in ("total", "labeled", "failed", "pending")),
            gap,
        )
    Console().print(table)
    if args.errors:
        for row in db.select("label_error"):
            print(f"row {row.id}: {row.label_error}")
    return 0
