"""``thermognn report RUN_DIR``: one self-contained HTML page with every figure and table."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the HTML report of a run folder")
    p.add_argument("run_dir")
    p.add_argument("--out", default=None, help="HTML path (default RUN_DIR/report.html)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from thermognn.report import write_report

    path, missing = write_report(args.run_dir, args.out)
    if missing:
        print(
            f"{len(missing)} pieces missing (listed in the report): "
            + "; ".join(missing[:5])
            + (" …" if len(missing) > 5 else "")
        )
    print(path)
    return 0
