"""``thermognn phonons``: harmonic force constants with phonopy → DIR/phonopy_params.yaml.

Compute force constants of a reference crystal's unit cell with phonopy and any
supported calculator; writes DIR/phonopy_params.yaml (force constants included) and
prints the thermal amplitudes at --temperature.
"""

from __future__ import annotations

import argparse

from thermognn.cli import common


def register(sub: argparse._SubParsersAction) -> None:
    p = common.add_command(sub, "phonons", __doc__)
    p.add_argument(
        "--material", required=True, help="Ag3SBr, Ag3SI or a structure file (unit cell)"
    )
    p.add_argument(
        "--calculator",
        default="gfn1-xtb",
        help="gfn1-xtb (default), gfn2-xtb, emt, chgnet or any ASE calculator as module:factory",
    )
    common.add_calculator_options(p)
    p.add_argument(
        "--allow-unrelaxed",
        action="store_true",
        help="go on (with a warning) when the reference supercell is far from the "
        "calculator's equilibrium (|σ| > 10 GPa or forces > 0.5 eV/Å); see thermognn relax",
    )
    p.add_argument("--supercell", type=common.parse_supercell, default=(2, 2, 2), help="e.g. 2,2,2")
    p.add_argument("--distance", type=float, default=0.01, help="displacement (Å)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--temperature", type=float, default=300.0, help="for the amplitude table (K)")
    p.add_argument("--imaginary", default="abs", choices=("abs", "drop", "error"))
    p.add_argument("--frequency-floor", type=float, default=0.5, help="THz")
    g = p.add_argument_group(
        "self-consistent renormalisation (hiphive)",
        "With --renormalise T (or --scph T), the harmonic force constants go to "
        "OUT/harmonic/ and the ones renormalised at T K to OUT/phonopy_params.yaml, with "
        "OUT/scph.json (history per iteration: lowest frequency at Γ, X, M, R, parameter "
        "change, energies) and OUT/scph.png. It stops once those frequencies settle.",
    )
    g.add_argument(
        "--renormalise",
        "--scph",
        dest="scph",
        type=float,
        default=None,
        metavar="TEMPERATURE",
        help="renormalise the force constants self-consistently at this T (K)",
    )
    g.add_argument("--scph-iterations", type=int, default=30, help="most iterations (default 30)")
    g.add_argument(
        "--scph-window",
        type=int,
        default=4,
        help="converged when the lowest frequencies settle over this many iterations; the "
        "result is the mean of the last ones (default 4)",
    )
    g.add_argument(
        "--scph-frequency-tolerance",
        type=float,
        default=0.1,
        help="THz spread allowed over the window (default 0.1)",
    )
    g.add_argument(
        "--scph-all-iterations",
        action="store_true",
        help="run all --scph-iterations even after convergence",
    )
    g.add_argument(
        "--scph-structures",
        type=int,
        default=20,
        help="rattled structures per iteration (default 20)",
    )
    g.add_argument("--scph-alpha", type=float, default=0.2, help="mixing step (default 0.2)")
    g.add_argument(
        "--scph-cutoff",
        type=float,
        default=None,
        help="pair cutoff (Å; default just under half the supercell width)",
    )
    g.add_argument("--scph-seed", type=int, default=0, help="seed of the rattling (default 0)")
    common.add_choice(
        g,
        "--scph-rattler",
        ("floored", "hiphive"),
        "floored: normal modes with --imaginary and --frequency-floor (default); "
        "hiphive: hiphive's rattler, no floor",
    )
    common.add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from thermognn.labels import calculator_factory
    from thermognn.phonons import ModePolicy, compute_phonons, thermal_amplitudes
    from thermognn.structures import resolve_material

    common.resolve_config(args, args.parser, "phonons")
    console = Console(stderr=True)
    if args.scph is not None:
        from thermognn.phonons.scph import check_scph_settings

        check_scph_settings(
            args.scph,
            args.scph_iterations,
            args.scph_structures,
            args.scph_alpha,
            args.scph_window,
            args.scph_frequency_tolerance,
        )
    unit = resolve_material(args.material, (1, 1, 1))
    factory = calculator_factory(args.calculator, **common.calculator_options(args))
    _check_reference(args, unit, factory, console)
    harmonic_dir = Path(args.out) / "harmonic" if args.scph is not None else Path(args.out)
    with console.status(f"phonopy: displaced supercells of {unit.get_chemical_formula()}") as st:
        ph = compute_phonons(
            unit,
            factory,
            tuple(args.supercell),
            distance=args.distance,
            out_dir=harmonic_dir,
            progress=lambda k, n: st.update(f"phonopy: displaced supercell {k}/{n}"),
        )
    if args.scph is not None:
        ph = _renormalise(args, ph, factory)
    zeta = thermal_amplitudes(
        ph, args.temperature, policy=ModePolicy(args.imaginary, args.frequency_floor)
    )
    source = f", SCPH force constants at {args.scph:g} K" if args.scph is not None else ""
    table = Table(title=f"thermal amplitudes ζ at {args.temperature:g} K (Å){source}")
    for col in ("atom", "x", "y", "z", "rms"):
        table.add_column(col)
    for sym, z in zip(ph.primitive.symbols, zeta):
        table.add_row(sym, *(f"{v:.3f}" for v in z), f"{np.sqrt((z**2).sum()):.3f}")
    Console().print(table)
    print(Path(args.out) / "phonopy_params.yaml")
    return 0


def _check_reference(args: argparse.Namespace, unit, factory, console) -> None:
    """Residual forces and stress of the reference supercell: warn, or refuse when far off.

    Writes them to OUT/reference_residuals.json when it goes on.
    """
    import json
    from dataclasses import asdict
    from pathlib import Path

    from thermognn.structures.relax import check_equilibrium, residuals

    with console.status("residual forces and stress of the reference"):
        found = residuals(unit.repeat(tuple(args.supercell)), factory())
    warning = check_equilibrium(found, allow=args.allow_unrelaxed)  # refusal: nothing written
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reference_residuals.json").write_text(
        json.dumps({"calculator": args.calculator, **asdict(found)}, indent=2)
    )
    if warning:
        console.print(f"[bold red]WARNING[/]: {warning}")


#: ``renormalize_scph`` keywords set by the ``--scph-<keyword>`` option of the same name.
SCPH_KEYWORDS = ("alpha", "cutoff", "seed", "rattler", "window", "frequency_tolerance")


def _renormalise(args: argparse.Namespace, ph, factory):
    """Run the SCPH loop, print its convergence summary, return the new phonopy object."""
    from thermognn.cli.common import progress_callback
    from thermognn.phonons import ModePolicy
    from thermognn.phonons.scph import renormalize_scph

    with progress_callback(f"SCPH {args.scph:g} K") as cb:
        result = renormalize_scph(
            ph,
            factory,
            args.scph,
            n_iterations=args.scph_iterations,
            n_structures=args.scph_structures,
            **common.option_values(args, SCPH_KEYWORDS, prefix="scph_"),
            stop_when_converged=not args.scph_all_iterations,
            policy=ModePolicy(args.imaginary, args.frequency_floor),
            out_dir=args.out,
            progress=cb,
        )
    history = ", ".join(f"{h:.1e}" for h in result.history[-5:])
    print(result.summary())
    print(f"  relative parameter change, last iterations: {history}")
    for k, freqs in enumerate(result.frequency_history):
        print(f"  iteration {k:2d}: " + ", ".join(f"{q} {f:+.3f}" for q, f in freqs.items()))
    return result.phonon
