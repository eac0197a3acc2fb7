"""``thermognn sample``: displaced configurations into the study database.

Sample configurations of a reference crystal with a registered scheme (built in:
random, phonon, phonon-gaussian, normal-mode, md; plug-ins add more, --list-schemes
shows them all). Re-running tops up: configurations already written for the same
settings are skipped.
"""

from __future__ import annotations

import argparse
from typing import Any

from thermognn.cli import common


def register(sub: argparse._SubParsersAction) -> None:
    p = common.add_command(sub, "sample", __doc__)
    p.add_argument("--db", required=True, help="study database (SQLite path or ASE URL)")
    p.add_argument("--study", default=None, help="study name (checked against the database)")
    p.add_argument("--material", required=True, help="Ag3SBr, Ag3SI, Ag3SBrI, Ag3SBr0.5I or a file")
    p.add_argument("--supercell", type=common.parse_supercell, default=(2, 2, 2))
    p.add_argument("--scheme", required=True, help="a registered scheme (see --list-schemes)")
    p.add_argument(
        "--list-schemes", action=ListSchemes, help="list the registered schemes and exit"
    )
    p.add_argument(
        "--set",
        dest="sample_set",
        default=None,
        metavar="NAME",
        help="name of the sampling set (stored per row as sample_set, e.g. random-matched)",
    )
    p.add_argument(
        "--scheme-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of a plug-in scheme (repeatable; VALUE read as JSON if it parses)",
    )
    p.add_argument("--n", type=int, required=True, help="number of configurations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--temperature",
        default="300",
        help="K: one value, a list 150,300,600 (cycled) or a range 150:600 (uniform)",
    )
    p.add_argument(
        "--amplitude", type=common.parse_range, default=(0.1, 0.8), help="random: MIN:MAX Å"
    )
    p.add_argument(
        "--phonons", default=None, help="phonopy folder/yaml (default: computed, cached)"
    )
    p.add_argument("--calculator", default="gfn1-xtb", help="for phonons and md")
    p.add_argument("--imaginary", default="abs", choices=("abs", "drop", "error"))
    p.add_argument("--frequency-floor", type=float, default=0.5, help="THz")
    p.add_argument("--min-distance", type=float, default=None, help="Monte Carlo guard (Å)")
    p.add_argument("--br-fraction", type=float, default=None, help="solid solutions: Br fraction")
    common.add_choice(
        p,
        "--partial-occupancy",
        ("refuse", "majority"),
        "a structure file with partially occupied sites: refuse it (default) or order "
        "each site to its majority species (recorded on the reference row)",
    )
    common.add_choice(
        p,
        "--constraints",
        ("refuse", "release"),
        "a structure file with constraints (selective dynamics): refuse it (default) "
        "or release them so every atom is displaced (recorded on the reference row)",
    )
    p.add_argument("--md-stride", type=int, default=20)
    p.add_argument("--md-equilibration", type=int, default=200)
    common.add_config_option(p)
    p.set_defaults(func=run)


class ListSchemes(argparse.Action):
    """``--list-schemes``: print every registered scheme with its description, exit 0."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from thermognn.sampling import get_scheme, scheme_names

        for name in scheme_names():
            print(f"{name:18s} {get_scheme(name).description}")
        parser.exit()


def parse_options(items: list[str]) -> dict[str, Any]:
    """``--scheme-option KEY=VALUE`` strings → a dict (values read as JSON when they parse)."""
    return common.parse_key_values(items, "--scheme-option")


#: ``SamplingSpec`` fields set unchanged by the option of the same name.
SPEC_OPTIONS = (
    "material",
    "scheme",
    "n",
    "seed",
    "phonons",
    "calculator",
    "frequency_floor",
    "min_distance",
    "br_fraction",
    "md_stride",
    "md_equilibration",
    "partial_occupancy",
    "constraints",
)


def run(args: argparse.Namespace) -> int:
    from thermognn.sampling import SamplingSpec, sample_configurations

    common.resolve_config(args, args.parser, "sample")
    temps: list[float] = [300.0]
    trange = None
    text = str(args.temperature)
    if ":" in text and text.count(":") == 1:
        trange = common.parse_range(text)
    else:
        temps = common.parse_floats(text)
    spec = SamplingSpec(
        **common.option_values(args, SPEC_OPTIONS),
        supercell=tuple(args.supercell),
        temperatures=temps,
        temperature_range=trange,
        amplitude=tuple(args.amplitude),
        imaginary_policy=args.imaginary,
        sample_set=args.sample_set or None,
        scheme_options=parse_options(args.scheme_option),
    )
    title = f"{args.scheme} ({args.sample_set})" if args.sample_set else args.scheme
    with common.progress_callback(f"sample {title}") as cb:
        # checks the settings and the crystal before the database is created or changed
        ids = sample_configurations(args.db, spec, progress=cb, study=args.study)
    print(f"{len(ids)} configurations written to {args.db} (batch {spec.batch_key()})")
    return 0
