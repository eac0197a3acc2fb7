"""``thermognn label``: label every unlabeled row, in parallel on Dask, resumably.

Label the unlabeled rows of a study database. Only this process writes the database, one
row per finished result: interrupting it loses at most the rows in flight, and re-
running resumes. Failed rows keep their label_error.
"""

from __future__ import annotations

import argparse

from thermognn.cli import common


def register(sub: argparse._SubParsersAction) -> None:
    p = common.add_command(sub, "label", __doc__)
    p.add_argument("--db", required=True)
    p.add_argument("--study", default=None)
    p.add_argument(
        "--labeler",
        "--calculator",
        dest="labeler",
        default="gfn1-xtb",
        help="registered name (gfn1-xtb default, gfn2-xtb, emt, chgnet) or any ASE calculator "
        "as module:factory, e.g. ase.calculators.emt:EMT",
    )
    common.add_calculator_options(p)
    p.add_argument(
        "--batch-size", type=int, default=4, help="rows per worker task (default 4; 1 = one each)"
    )
    common.add_dask_options(p, "LocalCluster workers (0: in-process)")
    p.add_argument("--retry-failed", action="store_true", help="retry rows that failed before")
    p.add_argument("--query", default=None, help="ASE selection, e.g. 'scheme=phonon'")
    p.add_argument("--limit", type=int, default=None, help="label at most N rows")
    common.add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from thermognn.database import StudyDatabase
    from thermognn.labels import label_database

    common.resolve_config(args, args.parser, "label")
    db = StudyDatabase(args.db, study=args.study, create=False)
    with common.progress_callback(f"label {args.labeler}") as cb:
        s = label_database(
            db,
            labeler=args.labeler,
            options=common.calculator_options(args),
            workers=args.workers,
            scheduler=args.scheduler,
            retry_failed=args.retry_failed,
            query=args.query,
            limit=args.limit,
            progress=cb,
            batch_size=args.batch_size,
        )
    if s.labeled or s.failed:
        where = f"on {s.workers} workers" if s.workers else "in-process"
        how = f"{s.rate:.2f} configurations/s {where}"
    elif args.workers is None and args.scheduler is None:
        how = "nothing to label; no workers started"
    else:  # say what was asked for, not "on 0 workers"
        asked = args.scheduler or ("in-process" if args.workers == 0 else f"{args.workers} workers")
        how = f"nothing to label; {asked} not needed"
    print(f"{s.labeled} labeled, {s.failed} failed, {s.remaining} remaining ({how})")
    for row_id, msg in list(s.errors.items())[:10]:
        print(f"  row {row_id}: {msg}")
    return 0
