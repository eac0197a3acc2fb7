"""``thermognn explain``: GNNExplainer bond importances of a trained run (paper Fig. 5)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="which bonds a trained model relies on (GNNExplainer)",
        description="Explain a run on structures (files, or rows of a study database): "
        "edge masks reduced per atom pair (directions, periodic images), averaged over "
        "explainer seeds, aggregated per "
        "species pair; densities, fractions above the threshold and a 3D view.",
    )
    p.add_argument("run", help="run folder (model.json + model.pt)")
    p.add_argument("files", nargs="*", help="structure files (any ASE format)")
    p.add_argument("--db", default=None, help="study database to take structures from")
    p.add_argument("--query", default="labeled=1", help="ASE selection in --db")
    p.add_argument("--n", type=int, default=8, help="structures to explain")
    p.add_argument("--compare", default=None, help="a second (e.g. poorly performing) run")
    p.add_argument("--label", default=None, help="label to explain (multi-target runs)")
    p.add_argument("--seeds", type=int, default=3, help="explainer seeds averaged")
    p.add_argument("--epochs", type=int, default=200, help="GNNExplainer epochs")
    p.add_argument("--threshold", type=float, default=0.86)
    p.add_argument("--out", default=None, help="output folder (default RUN/explain)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from thermognn.cli.common import progress_callback
    from thermognn.explain.report import explain_and_write, load_structures

    structures = load_structures(args.files, args.db, args.query, args.n)
    runs = {"model": args.run}
    if args.compare:
        runs = {"best": args.run, "compared": args.compare}
    out = Path(args.out or Path(args.run) / "explain")
    with progress_callback("explain") as cb:
        summary = explain_and_write(
            runs,
            structures,
            out,
            label=args.label,
            seeds=range(args.seeds),
            epochs=args.epochs,
            threshold=args.threshold,
            progress=cb,
        )
    for name, rows in summary.items():
        print(
            f"{name}: "
            + ", ".join(f"{r['pair']} {100 * r['fraction_above']:.0f}%" for r in rows)
            + f"  (share of bonds with importance > {args.threshold})"
        )
    print(out)
    return 0
