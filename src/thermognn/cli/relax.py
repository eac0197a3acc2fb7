"""``thermognn relax``: relax a reference crystal (positions and cell) to the calculator's equilibrium.

Relax positions and cell of a unit cell with any calculator (ASE's FrechetCellFilter and
BFGS/FIRE, space group kept with FixSymmetry) and write it with its final energy, forces
and stress. Prints and records (OUT.relax.json) the residual forces and stress before
and after. Use the result as --material of phonons and sample, so the phonons are those
of the calculator's equilibrium.
"""

from __future__ import annotations

import argparse

from thermognn.cli import common


def register(sub: argparse._SubParsersAction) -> None:
    p = common.add_command(sub, "relax", __doc__)
    p.add_argument("--material", required=True, help="Ag3SBr, Ag3SI or a structure file")
    p.add_argument(
        "--calculator",
        default="gfn1-xtb",
        help="registered name (gfn1-xtb default, gfn2-xtb, emt, chgnet) or module:factory",
    )
    common.add_calculator_options(p)
    p.add_argument("--out", required=True, help="relaxed unit cell (any ASE format)")
    p.add_argument(
        "--supercell",
        type=common.parse_supercell,
        default=(1, 1, 1),
        help="relax this repetition of the unit cell (Γ-point methods such as xTB need "
        "the supercell the study uses, e.g. 2,2,2); the unit cell is written",
    )
    p.add_argument("--fmax", type=float, default=0.01, help="force convergence, eV/Å (0.01)")
    p.add_argument("--steps", type=int, default=300, help="most optimiser steps (300)")
    p.add_argument("--optimizer", default="BFGS", choices=("BFGS", "FIRE", "LBFGS"))
    p.add_argument("--pressure", type=float, default=0.0, help="external pressure, GPa (0)")
    p.add_argument("--fixed-cell", action="store_true", help="relax positions only")
    p.add_argument("--no-symmetry", action="store_true", help="do not keep the space group")
    common.add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import ase.io

    from thermognn.errors import ThermognnError
    from thermognn.labels import calculator_factory
    from thermognn.structures import resolve_material
    from thermognn.structures.relax import relax_structure, unit_cell_of

    common.resolve_config(args, args.parser, "relax")
    unit = resolve_material(args.material, (1, 1, 1))
    factory = calculator_factory(args.calculator, **common.calculator_options(args))
    result = relax_structure(
        unit.repeat(args.supercell),
        factory,
        fmax=args.fmax,
        steps=args.steps,
        optimizer=args.optimizer,
        cell=not args.fixed_cell,
        symmetry=not args.no_symmetry,
        pressure=args.pressure,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "material": args.material,
        "calculator": args.calculator,
        "common.calculator_options": common.calculator_options(args),
        "fmax": args.fmax,
        "optimizer": args.optimizer,
        "pressure_gpa": args.pressure,
        "supercell": list(args.supercell),
        **result.record(),
    }
    atoms = unit_cell_of(result.atoms, unit, tuple(args.supercell))
    atoms.info.update(
        relax_supercell="x".join(str(n) for n in args.supercell),
        relax_calculator=args.calculator,
        relax_max_force=result.final.max_force,
        relax_converged=result.converged,
    )
    if result.final.hydrostatic_stress is not None:
        atoms.info["relax_hydrostatic_stress"] = result.final.hydrostatic_stress
    try:
        ase.io.write(out, atoms)
    except Exception as exc:  # noqa: BLE001 - ASE raises many types for unknown formats
        raise ThermognnError(f"{out}: cannot write ({type(exc).__name__}: {exc})") from None
    Path(f"{out}.relax.json").write_text(json.dumps(record, indent=2))
    a, b, c = atoms.cell.lengths()
    print(f"before: {result.initial.describe()}")
    print(f"after:  {result.final.describe()} ({result.steps} steps)")
    print(f"cell {a:.4f} {b:.4f} {c:.4f} Å, volume {100 * result.lattice_change:+.2f} % → {out}")
    if not result.converged:
        print(f"warning: not converged to fmax {args.fmax} eV/Å in {args.steps} steps")
        return 1
    return 0
