"""``thermognn predict``: predictions of a trained run for structure files or database rows.

Predict with a run folder (or a folder of per-label runs) for every structure in
FILE... (all frames of each; any format ASE reads) and/or the rows of --db selected by
--query; prints a table with units and writes a CSV.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from thermognn.cli.common import (
    add_choice,
    add_command,
    add_config_option,
    parse_supercell,
    resolve_config,
)

#: Rows of the predictions table shown on the terminal (the CSV has all of them).
SHOWN_ROWS = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "predict", __doc__)
    p.add_argument("run", nargs="?", help="run folder (or a folder of per-label run folders)")
    p.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="RUN",
        help="run folder (repeat for an ensemble); same as the positional RUN",
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="structure files")
    p.add_argument("--format", default=None, help="ASE file format, if not guessed")
    p.add_argument("--db", default=None, help="study database to predict rows of")
    p.add_argument("--query", default=None, help="ASE selection of --db rows")
    p.add_argument(
        "--out", default="predictions.csv", help="CSV to write (default: predictions.csv)"
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    t = p.add_argument_group(
        "thermal ensemble average ⟨P⟩_T (harmonic, fixed volume)",
        "At each T, displace the reference crystal with harmonic phonon amplitudes, "
        "predict every configuration with every --model and average.",
    )
    t.add_argument(
        "--temperatures",
        default=None,
        metavar="T0:T1:STEP",
        help="temperatures (K) of the ensemble averages, e.g. 0:600:50 or 150,300",
    )
    t.add_argument("--material", default="Ag3SBr", help="built-in name or structure file")
    t.add_argument("--supercell", type=parse_supercell, default=(2, 2, 2))
    t.add_argument("--n-configs", type=int, default=32, help="configurations per temperature")
    t.add_argument("--seed", type=int, default=0)
    add_choice(
        t,
        "--scheme",
        ("phonon-gaussian", "normal-mode", "phonon"),
        "phonon-gaussian (default, <u²> = ζ²), normal-mode, or phonon (paper eq. 3, "
        "ε ~ U[-1,1], <u²> = ζ²/3)",
    )
    t.add_argument("--phonons", default=None, help="phonopy folder (default: bundled or computed)")
    t.add_argument(
        "--train-range",
        default=None,
        metavar="TMIN:TMAX",
        help="training temperatures (K) of the models (default: read from their runs)",
    )
    t.add_argument(
        "--strict", action="store_true", help="refuse temperatures outside the training range"
    )
    t.add_argument(
        "--direct-db",
        default=None,
        metavar="DB",
        help="check the curve against labeled rows of DB (their T are added to the grid)",
    )
    t.add_argument(
        "--direct-query",
        default="scheme=phonon-gaussian",
        help="selection of the --direct-db rows (default: scheme=phonon-gaussian)",
    )
    add_config_option(p)
    p.set_defaults(func=run)


def read_structures(args: argparse.Namespace) -> tuple[list[str], list[Any]]:
    """(source names, ASE structures) from the files and the database selection.

    Files go through :func:`thermognn.structures.read_structures` and database rows
    through :func:`thermognn.database.open_database`: the checks every command makes.
    """
    from thermognn.database import open_database
    from thermognn.errors import DatabaseError, ThermognnError
    from thermognn.structures import check_structure
    from thermognn.structures import read_structures as read_file

    names: list[str] = []
    structures: list[Any] = []
    for file in args.files:
        frames = read_file(file, format=args.format, constraints="keep")
        names += [file if len(frames) == 1 else f"{file}@{k}" for k in range(len(frames))]
        structures += frames
    if args.db:
        database = open_database(args.db)
        try:
            rows = list(database.select(args.query) if args.query else database.select())
        except (ValueError, KeyError, TypeError) as exc:
            raise DatabaseError(f"{args.db}: invalid selection {args.query!r} ({exc})") from None
        for row in rows:
            names.append(f"{args.db}:{row.id}")
            structures.append(check_structure(row.toatoms(), source=names[-1]))
    if not structures:
        raise ThermognnError("nothing to predict: give structure files and/or --db with --query")
    return names, structures


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from thermognn.training.checkpoint import find_runs
    from thermognn.training.ensemble import EnsemblePredictor, load_predictor
    from thermognn.training.run import resolve_device

    resolve_config(args, args.parser, "predict")
    from thermognn.errors import ThermognnError

    runs = ([args.run] if args.run else []) + (args.model or [])
    if not runs:
        raise ThermognnError("give a run folder (RUN or --model RUN)")
    if args.temperatures:
        return _temperature_curve(args, runs)
    if len(runs) > 1:
        raise ThermognnError("several --model runs are for --temperatures ensembles only")
    device = str(resolve_device(args.device))
    predictors = [load_predictor(run_dir, device) for run_dir in find_runs(runs[0])]
    names, structures = read_structures(args)
    columns: list[str] = []
    values: list[np.ndarray] = []
    means: list[np.ndarray] = []  # one per predictor (the domain check reads them)
    for predictor in predictors:
        if isinstance(predictor, EnsemblePredictor):  # mean, then the calibrated spread
            mean, std = predictor.predict_atoms_std(structures)
            values += [mean, std]
            means.append(mean)
            columns += [_column(name, predictor.record.units) for name in predictor.labels]
            columns += [
                _column(f"{n}_std", {f"{n}_std": predictor.record.units.get(n, "")})
                for n in predictor.labels
            ]
            continue
        values.append(predictor.predict_atoms(structures))
        means.append(values[-1])
        columns += [_column(name, predictor.record.units) for name in predictor.labels]
    table = np.concatenate(values, axis=1)
    flags = _domain_flags(predictors, structures, means)
    formulas = [a.get_chemical_formula() for a in structures]
    _write_csv(Path(args.out), names, formulas, columns, table, flags)
    _print_table(names, formulas, columns, table)
    _warn_out_of_domain(names, flags)
    print(f"{len(structures)} structures; wrote {args.out}")
    return 0


def _domain_flags(
    predictors: list[Any], structures: list[Any], values: list[Any]
) -> list[str] | None:
    """Per structure, why it lies outside the training domain of any run (``""``: inside).

    ``None`` when no run recorded its domain (trained before domains were recorded).
    """
    from thermognn.training.domain import domain_flags

    merged: list[list[str]] | None = None
    for predictor, predicted in zip(predictors, values, strict=False):
        flags = domain_flags(predictor.record, structures, predicted)
        if flags is None:
            continue
        merged = merged or [[] for _ in structures]
        for reasons, flag in zip(merged, flags, strict=True):
            reasons += [r for r in flag.split("; ") if r and r not in reasons]
    return None if merged is None else ["; ".join(r) for r in merged]


def _warn_out_of_domain(names: list[str], flags: list[str] | None, shown: int = SHOWN_ROWS) -> None:
    """One warning line per structure outside the training domain (on stderr)."""
    import sys

    if flags is None:
        print("warning: the run records no training domain (in_domain left empty)", file=sys.stderr)
        return
    outside = [(name, flag) for name, flag in zip(names, flags, strict=True) if flag]
    for name, flag in outside[:shown]:
        print(f"warning: {name}: outside the training domain: {flag}", file=sys.stderr)
    if len(outside) > shown:
        print(f"warning: … {len(outside) - shown} more (see in_domain)", file=sys.stderr)


def _column(label: str, units: dict[str, str]) -> str:
    unit = units.get(label, "")
    return f"{label} ({unit})" if unit else label


def _write_csv(
    path: Path,
    names: list[str],
    formulas: list[str],
    columns: list[str],
    table: Any,
    flags: list[str] | None = None,
) -> None:
    """The predictions, then ``in_domain`` (True/False, empty if unknown) and ``domain_flag``."""
    import csv

    domain = flags if flags is not None else [None] * len(names)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("structure", "formula", *columns, "in_domain", "domain_flag"))
        for name, formula, row, flag in zip(names, formulas, table, domain, strict=True):
            inside = "" if flag is None else str(not flag)
            writer.writerow((name, formula, *(f"{v:.8g}" for v in row), inside, flag or ""))


def _print_table(names: list[str], formulas: list[str], columns: list[str], table: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table("structure", "formula", *columns)
    for name, formula, row in list(zip(names, formulas, table, strict=True))[:SHOWN_ROWS]:
        view.add_row(name, formula, *(f"{v:.5g}" for v in row))
    if len(names) > SHOWN_ROWS:
        view.add_row(f"… {len(names) - SHOWN_ROWS} more", "", *("" for _ in columns))
    Console().print(view)


def _temperature_curve(args: argparse.Namespace, runs: list[str]) -> int:
    """``--temperatures``: ⟨P⟩_T with thermal, model and sampling spread; optional check."""
    from rich.console import Console
    from rich.table import Table

    from thermognn.cli.common import option_values, parse_floats, progress_callback
    from thermognn.errors import ThermognnError
    from thermognn.temperature import (
        compare_with_direct,
        direct_ensemble_means,
        harmonic_ensemble_average,
    )

    temps = parse_floats(args.temperatures)
    train_range = None
    if args.train_range:
        parts = args.train_range.split(":")
        try:
            train_range = (float(parts[0]), float(parts[1]))
        except (IndexError, ValueError):
            raise ThermognnError(
                f"--train-range: expected TMIN:TMAX in K, got {args.train_range!r}"
            ) from None
    direct = None
    if args.direct_db:
        from thermognn.training.checkpoint import read_record
        from thermognn.training.ensemble import is_ensemble, member_dirs

        first = member_dirs(runs[0])[0] if is_ensemble(runs[0]) else Path(runs[0])
        label = list(read_record(first).labels)[0]
        direct = direct_ensemble_means(args.direct_db, args.material, label, args.direct_query)
        temps = sorted(set(temps) | {float(t) for t in direct.temperatures})
    with progress_callback("temperatures") as cb:
        curve = harmonic_ensemble_average(
            runs,
            args.material,
            temps,
            **option_values(args, ("n_configs", "seed", "scheme", "phonons", "strict")),
            supercell=tuple(args.supercell),
            train_range=train_range,
            progress=cb,
        )
    out = Path(args.out if args.out != "predictions.csv" else "temperature_curve.csv")
    curve.write_csv(out)
    curve.plot(out.with_suffix(".png"), direct=direct)
    view = Table("T (K)", *(f"⟨{lab}⟩_T ({curve.units.get(lab, '')})" for lab in curve.labels))
    view.add_column("trained T")
    flags = curve.in_training_range
    for i, t in enumerate(curve.temperatures):
        cells = [
            f"{curve.mean[i, j]:.4f} ± {curve.sem[i, j]:.4f} (thermal {curve.thermal_std[i, j]:.3f})"
            for j in range(len(curve.labels))
        ]
        view.add_row(f"{t:g}", *cells, "?" if flags is None else ("yes" if flags[i] else "NO"))
    Console().print(view)
    print(f"{curve.scheme} harmonic fixed-volume ensemble averages (mean ± SE); wrote {out}")
    if direct is not None:
        table = compare_with_direct(curve, direct)
        table.write_csv(out.with_name(out.stem + "_direct.csv"))
        print("\n".join(table.lines()))
    return 0
