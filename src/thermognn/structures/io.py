"""Reading and checking reference crystals from any file ASE can read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from thermognn.errors import StructureError


def check_structure(atoms: Atoms, *, min_distance: float = 0.5, source: str = "structure") -> Atoms:
    """Validate a crystal: non-empty, periodic cell with volume, no overlapping atoms.

    Parameters
    ----------
    atoms
        The crystal to check.
    min_distance
        Shortest allowed interatomic distance (Å), periodic images included.
    source
        Name used in error messages (a file path or row id).

    Raises
    ------
    StructureError
        With one line naming ``source`` and the problem.
    """
    if len(atoms) == 0:
        raise StructureError(f"{source}: structure has no atoms")
    if not atoms.pbc.all() or abs(atoms.cell.volume) < 1e-6:
        raise StructureError(f"{source}: needs a periodic 3D cell (pbc on all axes, volume > 0)")
    if not np.all(np.isfinite(atoms.positions)):
        raise StructureError(f"{source}: positions contain NaN or infinity")
    dmin, pair = shortest_distance(atoms)
    if dmin < min_distance:
        i, j = pair
        raise StructureError(
            f"{source}: atoms {i} ({atoms[i].symbol}) and {j} ({atoms[j].symbol}) are "
            f"{dmin:.3f} Å apart (< {min_distance} Å)"
        )
    return atoms


def shortest_distance(atoms: Atoms) -> tuple[float, tuple[int, int]]:
    """Shortest interatomic distance (Å) including periodic images, and the pair."""
    from vesin import NeighborList

    cutoff = 3.0
    while True:
        nl = NeighborList(cutoff=cutoff, full_list=False)
        i, j, d = nl.compute(
            points=atoms.positions, box=atoms.cell.array, periodic=True, quantities="ijd"
        )
        if len(d):
            k = int(np.argmin(d))
            return float(d[k]), (int(i[k]), int(j[k]))
        cutoff *= 2.0
        if cutoff > 100:
            return float("inf"), (0, 0)


def read_structure(path: str | Path, *, min_distance: float = 0.5) -> Atoms:
    """Read a reference crystal from any file ASE can read (POSCAR, CIF, extxyz, …).

    Raises
    ------
    StructureError
        When the file is missing, empty, unreadable or unphysical; the message names it.
    """
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise StructureError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise StructureError(f"{path}: file is empty")
    try:
        atoms = read(path)
    except Exception as exc:  # ASE raises many types for malformed files
        raise StructureError(
            f"{path}: cannot read structure ({type(exc).__name__}: {exc})"
        ) from exc
    if isinstance(atoms, list):
        atoms = atoms[0]
    atoms = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    return check_structure(atoms, min_distance=min_distance, source=str(path))


def resolve_material(
    material: str,
    supercell: tuple[int, int, int] = (2, 2, 2),
    *,
    br_fraction: float | None = None,
    seed: int | None = None,
) -> Atoms:
    """A reference supercell from a built-in name or the path of a structure file."""
    from thermognn.structures.prototypes import parse_material, reference_cell

    if parse_material(material) is not None:
        return reference_cell(material, supercell, br_fraction=br_fraction, seed=seed)
    path = Path(material)
    if not path.exists():
        raise StructureError(
            f"{material}: neither a built-in material (Ag3SBr, Ag3SI, Ag3SBrI) nor a file"
        )
    return read_structure(path).repeat(supercell)
