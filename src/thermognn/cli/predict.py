"""``thermognn predict``: predictions of a trained run for structure files or database rows."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from thermognn.cli.common import add_config_option, resolve_config

#: Rows of the predictions table shown on the terminal (the CSV has all of them).
SHOWN_ROWS = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="predict labels for structure files (any ASE format) or database rows",
        description="Predict with a run folder (or a folder of per-label runs) for every "
        "structure in FILE... (all frames of each; any format ASE reads) and/or the rows "
        "of --db selected by --query; prints a table with units and writes a CSV.",
    )
    p.add_argument("run", help="run folder (or a folder of per-label run folders)")
    p.add_argument("files", nargs="*", metavar="FILE", help="structure files")
    p.add_argument("--format", default=None, help="ASE file format, if not guessed")
    p.add_argument("--db", default=None, help="study database to predict rows of")
    p.add_argument("--query", default=None, help="ASE selection of --db rows")
    p.add_argument(
        "--out", default="predictions.csv", help="CSV to write (default: predictions.csv)"
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    add_config_option(p)
    p.set_defaults(func=run, parser=p)


def read_structures(args: argparse.Namespace) -> tuple[list[str], list[Any]]:
    """(source names, ASE structures) from the files and the database selection."""
    import ase.db
    import ase.io

    from thermognn.errors import StructureError, ThermognnError

    names: list[str] = []
    structures: list[Any] = []
    for file in args.files:
        try:
            frames = ase.io.read(file, index=":", format=args.format)
        except (OSError, ValueError, KeyError, StopIteration) as exc:
            raise StructureError(f"{file}: cannot read structures ({exc})") from None
        frames = frames if isinstance(frames, list) else [frames]
        names += [file if len(frames) == 1 else f"{file}@{k}" for k in range(len(frames))]
        structures += frames
    if args.db:
        if not Path(args.db).is_file() and "://" not in args.db:
            raise ThermognnError(f"study database {args.db} does not exist")
        rows = list(
            ase.db.connect(args.db).select(args.query)
            if args.query
            else ase.db.connect(args.db).select()
        )
        names += [f"{args.db}:{row.id}" for row in rows]
        structures += [row.toatoms() for row in rows]
    if not structures:
        raise ThermognnError("nothing to predict: give structure files and/or --db with --query")
    return names, structures


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from thermognn.training import Predictor
    from thermognn.training.checkpoint import find_runs
    from thermognn.training.run import resolve_device

    resolve_config(args, args.parser, "predict")
    device = str(resolve_device(args.device))
    predictors = [Predictor.from_run(run_dir, device) for run_dir in find_runs(args.run)]
    names, structures = read_structures(args)
    columns: list[str] = []
    values: list[np.ndarray] = []
    for predictor in predictors:
        values.append(predictor.predict_atoms(structures))
        columns += [_column(name, predictor.record.units) for name in predictor.labels]
    table = np.concatenate(values, axis=1)
    formulas = [a.get_chemical_formula() for a in structures]
    _write_csv(Path(args.out), names, formulas, columns, table)
    _print_table(names, formulas, columns, table)
    print(f"{len(structures)} structures; wrote {args.out}")
    return 0


def _column(label: str, units: dict[str, str]) -> str:
    unit = units.get(label, "")
    return f"{label} ({unit})" if unit else label


def _write_csv(
    path: Path, names: list[str], formulas: list[str], columns: list[str], table: Any
) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("structure", "formula", *columns))
        for name, formula, row in zip(names, formulas, table, strict=True):
            writer.writerow((name, formula, *(f"{v:.8g}" for v in row)))


def _print_table(names: list[str], formulas: list[str], columns: list[str], table: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table("structure", "formula", *columns)
    for name, formula, row in list(zip(names, formulas, table, strict=True))[:SHOWN_ROWS]:
        view.add_row(name, formula, *(f"{v:.5g}" for v in row))
    if len(names) > SHOWN_ROWS:
        view.add_row(f"… {len(names) - SHOWN_ROWS} more", "", *("" for _ in columns))
    Console().print(view)
