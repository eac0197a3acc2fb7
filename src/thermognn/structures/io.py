"""Reading and checking crystals from any file ASE can read: the one structure reader.

Every command and the Python API read structure files through :func:`read_structures`
(all frames) or :func:`read_structure` (one crystal), so a file is checked once, the
same way, everywhere. A file is refused, with one line naming the file and, where it
applies, the frame and the atoms, when it is

* missing, empty, unreadable or not in the given format;
* not a periodic 3D crystal (pbc on all axes, cell volume > 0);
* holding two atoms closer than ``min_distance`` (periodic images included);
* holding an unknown element (``X``, atomic number 0 or beyond the periodic table);
* a crystal with partial occupancies (CIF ``_atom_site_occupancy`` < 1 or several
  species on one site), unless ordering was asked for (``partial="majority"``): then
  each site takes its majority species and the choice is recorded in
  ``atoms.info["ordering"]``;
* carrying constraints (POSCAR selective dynamics, …) where the caller cannot honour
  them (``constraints="refuse"``); ``"keep"`` keeps them on the returned atoms and
  ``"release"`` removes them on request and records it in ``atoms.info["released"]``.
  They are never dropped silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from thermognn.errors import StructureError

#: What to do with partially occupied sites: refuse them, or take each site's majority.
PartialPolicy = Literal["refuse", "majority"]
#: What to do with constraints (selective dynamics): refuse, keep on the atoms, release.
ConstraintPolicy = Literal["refuse", "keep", "release"]

#: Default shortest allowed interatomic distance (Å).
MIN_DISTANCE = 0.5

_OCCUPANCY_TOL = 1e-3


def check_structure(
    atoms: Atoms, *, min_distance: float = MIN_DISTANCE, source: str = "structure"
) -> Atoms:
    """Validate a crystal: atoms, known elements, periodic cell with volume, no overlaps.

    Parameters
    ----------
    atoms
        The crystal to check.
    min_distance
        Shortest allowed interatomic distance (Å), periodic images included.
    source
        Name used in error messages (a file path, ``file@frame`` or row id).

    Raises
    ------
    StructureError
        With one line naming ``source`` and the problem.
    """
    if len(atoms) == 0:
        raise StructureError(f"{source}: structure has no atoms")
    unknown = [i for i, z in enumerate(atoms.numbers) if not 0 < z < len(chemical_symbols)]
    if unknown:
        raise StructureError(
            f"{source}: unknown element (atomic number {int(atoms.numbers[unknown[0]])}) "
            f"on atom{'s' if len(unknown) > 1 else ''} {_atom_list(unknown)}"
        )
    if not atoms.pbc.all() or abs(atoms.cell.volume) < 1e-6:
        raise StructureError(f"{source}: needs a periodic 3D cell (pbc on all axes, volume > 0)")
    if not np.all(np.isfinite(atoms.positions)) or not np.all(np.isfinite(atoms.cell.array)):
        raise StructureError(f"{source}: positions or cell contain NaN or infinity")
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


def read_structures(
    path: str | Path,
    *,
    format: str | None = None,
    index: str | int = ":",
    min_distance: float = MIN_DISTANCE,
    partial: PartialPolicy = "refuse",
    constraints: ConstraintPolicy = "keep",
) -> list[Atoms]:
    """Read and check every frame (or frame ``index``) of a structure file.

    Parameters
    ----------
    path
        Any file ASE reads (POSCAR, CIF, extxyz, …).
    format
        ASE format name when it cannot be guessed from the file.
    index
        ASE frame selection (``":"`` all frames, ``-1`` the last).
    min_distance
        Shortest allowed interatomic distance (Å).
    partial
        ``"refuse"`` partially occupied sites, or order them to the ``"majority"``
        species of each site (recorded in ``atoms.info["ordering"]``).
    constraints
        ``"keep"`` constraints on the returned atoms, ``"refuse"`` a file that has
        any, or ``"release"`` them (recorded in ``atoms.info["released"]``).

    Returns
    -------
    list of ase.Atoms
        One checked crystal per frame, with positions (Å), cell, pbc, numbers and
        (per ``constraints``) the file's constraints; nothing else of the file.

    Raises
    ------
    StructureError
        One line naming the file (``file@frame`` for multi-frame files), the problem
        and, where it applies, the atoms.
    """
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise StructureError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise StructureError(f"{path}: file is empty")
    try:
        frames = read(path, index=index, format=format)
    except Exception as exc:  # noqa: BLE001 - ASE raises anything (AssertionError, …) on odd files
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        how = f" as {format}" if format else ""
        raise StructureError(
            f"{path}: cannot read a structure{how} ({type(exc).__name__}"
            f"{': ' + detail if detail else ''})"
        ) from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise StructureError(f"{path}: no structure in the file")
    out = []
    for k, frame in enumerate(frames):
        source = str(path) if len(frames) == 1 else f"{path}@{k}"
        out.append(_checked(frame, source, min_distance, partial, constraints))
    return out


def read_structure(
    path: str | Path,
    *,
    format: str | None = None,
    min_distance: float = MIN_DISTANCE,
    partial: PartialPolicy = "refuse",
    constraints: ConstraintPolicy = "keep",
) -> Atoms:
    """Read and check one crystal (the last frame) of a structure file.

    See :func:`read_structures` for the parameters and the checks.

    Raises
    ------
    StructureError
        When the file is missing, empty, unreadable or unphysical; the message names it.
    """
    return read_structures(
        path,
        format=format,
        index=-1,
        min_distance=min_distance,
        partial=partial,
        constraints=constraints,
    )[0]


def _checked(
    frame: Atoms,
    source: str,
    min_distance: float,
    partial: PartialPolicy,
    constraints: ConstraintPolicy,
) -> Atoms:
    """A clean copy of one frame, its occupancies and constraints handled by policy."""
    atoms = Atoms(frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)
    ordering = _partial_sites(frame, source, partial)
    if ordering:
        atoms.info["ordering"] = ordering
    if frame.constraints:
        names = "; ".join(_describe_constraint(c) for c in frame.constraints)
        if constraints == "refuse":
            raise StructureError(
                f"{source}: has constraints ({names}) that this command cannot keep: every atom "
                "would move; remove them (e.g. the POSCAR's selective-dynamics flags) or release "
                "them explicitly (--constraints release)"
            )
        if constraints == "keep":
            atoms.set_constraint([c.copy() for c in frame.constraints])
        else:
            atoms.info["released"] = names
    return check_structure(atoms, min_distance=min_distance, source=source)


def _partial_sites(frame: Atoms, source: str, partial: PartialPolicy) -> str:
    """Refuse partially occupied sites, or describe the majority ordering applied."""
    occupancy = frame.info.get("occupancy")
    if not isinstance(occupancy, dict):
        return ""
    partial_kinds = {
        str(kind): occ
        for kind, occ in occupancy.items()
        if isinstance(occ, dict) and (len(occ) > 1 or abs(sum(occ.values()) - 1.0) > _OCCUPANCY_TOL)
    }
    if not partial_kinds:
        return ""
    kinds = frame.arrays.get("spacegroup_kinds")
    atoms_at = (
        [i for i, kind in enumerate(kinds) if str(kind) in partial_kinds]
        if kinds is not None
        else []
    )
    sites = "; ".join(
        f"{', '.join(f'{s} {v:g}' for s, v in occ.items())}" for occ in _unique(partial_kinds)
    )
    if partial == "refuse":
        where = f" on atoms {_atom_list(atoms_at)}" if atoms_at else ""
        raise StructureError(
            f"{source}: partial occupancies{where} ({sites}); order the crystal first, or ask "
            "for the majority species of each site (--partial-occupancy majority)"
        )
    return f"majority species of each partially occupied site ({sites})"


def _unique(occupancies: dict[str, dict[str, float]]) -> list[dict[str, float]]:
    seen: list[dict[str, float]] = []
    for occ in occupancies.values():
        ordered = dict(sorted(occ.items(), key=lambda kv: -kv[1]))
        if ordered not in seen:
            seen.append(ordered)
    return seen


def _describe_constraint(constraint: object) -> str:
    index = getattr(constraint, "index", None)
    if index is None:
        return type(constraint).__name__
    return f"{type(constraint).__name__} on atoms {_atom_list([int(i) for i in np.ravel(index)])}"


def _atom_list(indices: list[int], shown: int = 8) -> str:
    text = ", ".join(str(i) for i in indices[:shown])
    return text + (f", … ({len(indices) - shown} more)" if len(indices) > shown else "")


def resolve_material(
    material: str,
    supercell: tuple[int, int, int] = (2, 2, 2),
    *,
    br_fraction: float | None = None,
    seed: int | None = None,
    partial: PartialPolicy = "refuse",
    constraints: ConstraintPolicy = "refuse",
) -> Atoms:
    """A reference supercell from a built-in name or the path of a structure file.

    A file is read by :func:`read_structure`; by default partial occupancies and
    constraints are refused (sampling displaces every atom of an ordered crystal).
    """
    from thermognn.structures.prototypes import parse_material, reference_cell

    if parse_material(material) is not None:
        return reference_cell(material, supercell, br_fraction=br_fraction, seed=seed)
    path = Path(material)
    if not path.exists():
        raise StructureError(
            f"{material}: neither a built-in material (Ag3SBr, Ag3SI, Ag3SBrI) nor a file"
        )
    unit = read_structure(path, partial=partial, constraints=constraints)
    atoms = unit.repeat(supercell)
    atoms.info.update({k: v for k, v in unit.info.items() if k in ("ordering", "released")})
    return atoms
