"""``thermognn explain``: GNNExplainer bond importances of trained runs (paper Fig. 5).

Explain one or several runs (e.g. one setting's seeds) on the same structures: structure
files, or rows of a study database — by default the test rows every run shares
(split.json), never training rows unless allowed. Edge masks are merged per atom pair by
their mean (both directions, every periodic image), averaged over explainer seeds and
aggregated per species pair; across models: mean and 95% interval. Writes tables,
densities and a 3D view.
"""

from __future__ import annotations

import argparse

from thermognn.cli.common import add_command, parse_numbers


def _runs(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _ids(text: str) -> list[int]:
    return parse_numbers(text, int, "row ids")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "explain", __doc__)
    p.add_argument("run", help="run folder (model.json + model.pt)")
    p.add_argument("files", nargs="*", help="structure files (any ASE format)")
    p.add_argument(
        "--runs",
        type=_runs,
        default=[],
        help="more run folders explained with RUN as one group, e.g. its other seeds "
        "(comma-separated)",
    )
    p.add_argument("--db", default=None, help="study database to take structures from")
    p.add_argument("--rows", type=_ids, default=None, help="database row ids to explain")
    p.add_argument("--query", default=None, help="only database rows matching this selection")
    p.add_argument("--n", type=int, default=8, help="at most this many shared test rows")
    p.add_argument(
        "--allow-train-rows", action="store_true", help="accept --rows some model trained on"
    )
    p.add_argument(
        "--compare",
        type=_runs,
        default=[],
        help="second group, e.g. a poorly performing run (comma-separated folders)",
    )
    p.add_argument("--label", default=None, help="label to explain (multi-target runs)")
    p.add_argument("--seeds", type=int, default=3, help="explainer seeds averaged")
    p.add_argument("--epochs", type=int, default=200, help="GNNExplainer epochs")
    p.add_argument("--threshold", type=float, default=0.86)
    p.add_argument("--interval", choices=("t", "bootstrap"), default="t", help="across models")
    p.add_argument("--out", default=None, help="output folder (default RUN/explain)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from thermognn.cli.common import progress_callback
    from thermognn.errors import ThermognnError
    from thermognn.explain.report import (
        explain_and_write,
        explain_db_and_write,
        load_structures,
    )

    models = [args.run, *args.runs]
    groups = {"best": models, "compared": args.compare} if args.compare else {"model": models}
    out = Path(args.out or Path(args.run) / "explain")
    options = {
        "label": args.label,
        "seeds": range(args.seeds),
        "epochs": args.epochs,
        "threshold": args.threshold,
        "interval_method": args.interval,
    }
    with progress_callback("explain") as cb:
        if args.files:
            structures = load_structures(args.files, None, "", args.n)
            results = explain_and_write(groups, structures, out, progress=cb, **options)
        elif args.db is None:
            raise ThermognnError("give structure files or --db")
        else:
            results = explain_db_and_write(
                groups,
                args.db,
                out,
                row_ids=args.rows,
                n_structures=args.n,
                query=args.query,
                allow_train_rows=args.allow_train_rows,
                progress=cb,
                **options,
            )
    for group, res in results.items():
        parts = []
        for e in res.summary():
            text = f"{e['pair']} {100 * e['frac_above']:.1f}%"
            if e["n_models"] > 1:
                text += f" [{100 * e['frac_above_lo']:.1f}, {100 * e['frac_above_hi']:.1f}]"
            parts.append(text)
        n = len(next(iter(res.bonds.values())))
        print(
            f"{group} ({len(res.bonds)} model(s), {n} structures): "
            + ", ".join(parts)
            + f"  (share of bonds with importance > {args.threshold})"
        )
    print(out)
    return 0
