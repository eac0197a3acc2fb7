"""Built-in cubic Pm-3m antiperovskites Ag3SX (X = Br, I) and their solid solutions.

Conventions (DESIGN.md §1): halide X at (0, 0, 0), S at (1/2, 1/2, 1/2), Ag at the three
face centres (1/2, 1/2, 0), (1/2, 0, 1/2), (0, 1/2, 1/2). Lattice constants in Å.
Solid solutions Ag3SBr_xI_(1-x) occupy the halide sites of the supercell at random with
the requested Br fraction; the lattice constant follows Vegard's law.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from thermognn.errors import StructureError

#: Cubic lattice constants of the paper's end members (Å).
LATTICE_CONSTANTS: dict[str, float] = {"Ag3SBr": 4.793, "Ag3SI": 4.869}

_HALIDES = {"Ag3SBr": "Br", "Ag3SI": "I"}
_MIXED = re.compile(r"^Ag3SBr(?:_?x)?(?:[_=]?(?P<x>0?\.\d+|[01](?:\.\d*)?))?I(?:_?\(?1-x\)?)?$")


@dataclass(frozen=True)
class MaterialSpec:
    """A parsed built-in material name.

    Attributes
    ----------
    name
        Canonical name (``Ag3SBr``, ``Ag3SI`` or ``Ag3SBrI`` for solid solutions).
    br_fraction
        Br fraction x of the halide sites, ``None`` for a random fraction per cell.
    """

    name: str
    br_fraction: float | None


def parse_material(name: str) -> MaterialSpec | None:
    """Parse a built-in material name; ``None`` when it is not a built-in name.

    Accepted spellings: ``Ag3SBr``, ``Ag3SI``, ``Ag3SBrI`` / ``Ag3SBr_xI_(1-x)`` (random
    Br fraction per configuration) and ``Ag3SBr0.5I`` (fixed fraction x = 0.5).
    """
    if name in LATTICE_CONSTANTS:
        return MaterialSpec(name, 1.0 if name == "Ag3SBr" else 0.0)
    compact = name.replace(" ", "")
    if compact in {"Ag3SBrI", "Ag3SBr_xI_(1-x)", "Ag3SBrxI1-x", "Ag3SBr_xI_1-x"}:
        return MaterialSpec("Ag3SBrI", None)
    m = re.fullmatch(r"Ag3SBr(?P<x>[01]?\.\d+|[01])I", compact)
    if m:
        x = float(m.group("x"))
        if not 0.0 <= x <= 1.0:
            raise StructureError(f"material {name!r}: Br fraction must lie in [0, 1], got {x}")
        return MaterialSpec("Ag3SBrI", x)
    return None


def vegard_lattice_constant(br_fraction: float) -> float:
    """Lattice constant (Å) of Ag3SBr_xI_(1-x) by Vegard's law between the end members."""
    if not 0.0 <= br_fraction <= 1.0:
        raise StructureError(f"Br fraction must lie in [0, 1], got {br_fraction}")
    return (
        br_fraction * LATTICE_CONSTANTS["Ag3SBr"] + (1.0 - br_fraction) * LATTICE_CONSTANTS["Ag3SI"]
    )


def antiperovskite(halide: str = "Br", a: float | None = None) -> Atoms:
    """The 5-atom cubic Pm-3m cell Ag3S``halide`` with lattice constant ``a`` (Å).

    Atom order: halide, S, Ag, Ag, Ag.
    """
    key = f"Ag3S{halide}"
    if a is None:
        if key not in LATTICE_CONSTANTS:
            raise StructureError(f"no built-in lattice constant for {key}; pass a=")
        a = LATTICE_CONSTANTS[key]
    if a <= 0:
        raise StructureError(f"lattice constant must be positive, got {a} Å")
    scaled = [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)]
    return Atoms(
        symbols=[halide, "S", "Ag", "Ag", "Ag"],
        scaled_positions=scaled,
        cell=np.eye(3) * a,
        pbc=True,
    )


def mixed_halide_cell(
    br_fraction: float,
    supercell: tuple[int, int, int] = (2, 2, 2),
    rng: np.random.Generator | None = None,
) -> Atoms:
    """A supercell of Ag3SBr_xI_(1-x) with halide sites occupied at random.

    The number of Br sites is ``round(x * n_halide)``; which sites is drawn with ``rng``.
    The lattice constant follows Vegard's law for the *realised* fraction.
    """
    if rng is None:
        rng = np.random.default_rng(0)
    cell = antiperovskite("Br", 1.0).repeat(supercell)
    halide_sites = np.flatnonzero(cell.numbers == 35)
    n_br = int(round(br_fraction * len(halide_sites)))
    br_sites = rng.choice(halide_sites, size=n_br, replace=False)
    symbols = cell.get_chemical_symbols()
    for i in halide_sites:
        symbols[i] = "Br" if i in set(br_sites.tolist()) else "I"
    cell.set_chemical_symbols(symbols)
    a = vegard_lattice_constant(n_br / len(halide_sites))
    cell.set_cell(cell.cell * a, scale_atoms=True)
    return cell


def reference_cell(
    material: str,
    supercell: tuple[int, int, int] = (2, 2, 2),
    *,
    br_fraction: float | None = None,
    seed: int | None = None,
) -> Atoms:
    """The undisplaced reference supercell of a built-in material.

    Parameters
    ----------
    material
        ``Ag3SBr``, ``Ag3SI`` or a solid solution name (see :func:`parse_material`).
    supercell
        Repetitions of the 5-atom cubic cell (default 2×2×2 = 40 atoms).
    br_fraction
        For solid solutions: Br fraction x; overrides the one in the name. When neither
        gives one, x is drawn uniformly from [0, 1] with ``seed``.
    seed
        Seed of the random halide occupation (and of x when drawn).
    """
    spec = parse_material(material)
    if spec is None:
        raise StructureError(
            f"unknown material {material!r}: use Ag3SBr, Ag3SI, Ag3SBrI or a structure file"
        )
    if any(int(n) < 1 for n in supercell):
        raise StructureError(f"supercell repetitions must be ≥ 1, got {supercell}")
    if spec.name in _HALIDES:
        return antiperovskite(_HALIDES[spec.name]).repeat(supercell)
    rng = np.random.default_rng(seed)
    x = br_fraction if br_fraction is not None else spec.br_fraction
    if x is None:
        x = float(rng.uniform(0.0, 1.0))
    return mixed_halide_cell(x, supercell, rng)
