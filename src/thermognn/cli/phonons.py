"""``thermognn phonons``: harmonic force constants with phonopy → DIR/phonopy_params.yaml."""

from __future__ import annotations

import argparse

from thermognn.cli.common import add_config_option, parse_supercell, resolve_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "phonons",
        help="harmonic force constants (phonopy, finite displacements)",
        description="Compute force constants of a reference crystal's unit cell with phonopy "
        "and any supported calculator; writes DIR/phonopy_params.yaml (force constants "
        "included) and prints the thermal amplitudes at --temperature.",
    )
    p.add_argument(
        "--material", required=True, help="Ag3SBr, Ag3SI or a structure file (unit cell)"
    )
    p.add_argument("--calculator", default="gfn1-xtb", help="gfn1-xtb (default), gfn2-xtb, emt")
    p.add_argument("--supercell", type=parse_supercell, default=(2, 2, 2), help="e.g. 2,2,2")
    p.add_argument("--distance", type=float, default=0.01, help="displacement (Å)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--temperature", type=float, default=300.0, help="for the amplitude table (K)")
    p.add_argument("--imaginary", default="abs", choices=("abs", "drop", "error"))
    p.add_argument("--frequency-floor", type=float, default=0.5, help="THz")
    add_config_option(p)
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from thermognn.labels import calculator_factory
    from thermognn.phonons import ModePolicy, compute_phonons, thermal_amplitudes
    from thermognn.structures import resolve_material

    resolve_config(args, args.parser, "phonons")
    console = Console(stderr=True)
    unit = resolve_material(args.material, (1, 1, 1))
    with console.status(f"phonopy: displaced supercells of {unit.get_chemical_formula()}") as st:
        ph = compute_phonons(
            unit,
            calculator_factory(args.calculator),
            tuple(args.supercell),
            distance=args.distance,
            out_dir=args.out,
            progress=lambda k, n: st.update(f"phonopy: displaced supercell {k}/{n}"),
        )
    zeta = thermal_amplitudes(
        ph, args.temperature, policy=ModePolicy(args.imaginary, args.frequency_floor)
    )
    table = Table(title=f"thermal amplitudes ζ at {args.temperature:g} K (Å)")
    for col in ("atom", "x", "y", "z", "rms"):
        table.add_column(col)
    for sym, z in zip(ph.primitive.symbols, zeta):
        table.add_row(sym, *(f"{v:.3f}" for v in z), f"{np.sqrt((z**2).sum()):.3f}")
    Console().print(table)
    print(Path(args.out) / "phonopy_params.yaml")
    return 0
