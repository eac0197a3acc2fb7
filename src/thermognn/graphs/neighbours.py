"""Periodic neighbour lists with the compiled ``vesin`` library.

Every pair (i, j + image) whose distance is at most the cutoff is returned, in both
directions, with no neighbour cap: an atom near its own periodic image gets a self-pair
(i == j, nonzero shift), and several images of the same neighbour give several pairs.

Cutoff boundary: vesin itself keeps pairs with distance strictly *below* its cutoff
(checked with vesin 0.6: in a simple cubic cell of edge 2 Å, cutoff 2 Å gives no pair).
The package's definition is distance ≤ cutoff (DESIGN.md §6), so vesin is asked for a
cutoff larger by :data:`CUTOFF_PAD` and pairs with distance > cutoff are then dropped.
A pair at exactly the cutoff (as computed in float64) is therefore kept.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from ase import Atoms

from thermognn.errors import StructureError, ThermognnError

#: Extra search radius (Å) given to vesin so that pairs at exactly the cutoff are kept.
CUTOFF_PAD = 1e-6

#: Smallest accepted cell volume (Å³); below it the cell counts as degenerate.
MIN_CELL_VOLUME = 1e-6


class GraphSettingsError(ThermognnError, ValueError):
    """An invalid graph setting (a cutoff that is not a positive finite number)."""


class NeighbourList(NamedTuple):
    """A full periodic neighbour list (both directions of every pair).

    Attributes
    ----------
    i
        Index of the central atom, int64 ``[E]``.
    j
        Index of the neighbour atom, int64 ``[E]``.
    shift
        Integer cell shift ``S`` of the neighbour's image, int64 ``[E, 3]``: the
        neighbour sits at ``positions[j] + S @ cell``.
    distance
        ``|positions[j] + S @ cell - positions[i]|`` in Å, float64 ``[E]``.
    """

    i: np.ndarray
    j: np.ndarray
    shift: np.ndarray
    distance: np.ndarray


def check_cutoff(cutoff: float) -> float:
    """Validate a graph cutoff radius.

    Parameters
    ----------
    cutoff
        Cutoff radius in Å.

    Returns
    -------
    float
        The cutoff as a Python float.

    Raises
    ------
    GraphSettingsError
        When the cutoff is not a real number, is not finite, or is ≤ 0.
    """
    if isinstance(cutoff, bool) or not isinstance(cutoff, int | float | np.integer | np.floating):
        raise GraphSettingsError(f"graph cutoff must be a number in Å, got {cutoff!r}")
    value = float(cutoff)
    if not math.isfinite(value) or value <= 0.0:
        raise GraphSettingsError(
            f"graph cutoff must be a positive finite distance in Å, got {value}"
        )
    return value


def check_periodic_cell(atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """Check that ``atoms`` is a periodic crystal and return its positions and cell.

    Parameters
    ----------
    atoms
        The crystal.

    Returns
    -------
    positions, cell
        float64 arrays ``[n, 3]`` and ``[3, 3]`` (Å, cell vectors as rows).

    Raises
    ------
    StructureError
        For no atoms, a cell not periodic along all three directions, a cell of zero
        (or below :data:`MIN_CELL_VOLUME`) volume, or non-finite positions / cell.
    """
    if len(atoms) == 0:
        raise StructureError("a crystal graph needs at least one atom; the structure is empty")
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if not pbc.all():
        raise StructureError(
            f"crystal graphs need a cell periodic in all three directions, got pbc={pbc.tolist()}"
        )
    cell = np.array(atoms.cell.array, dtype=np.float64)
    positions = np.array(atoms.positions, dtype=np.float64)
    if not (np.isfinite(cell).all() and np.isfinite(positions).all()):
        raise StructureError("the structure has non-finite cell vectors or positions")
    volume = abs(float(np.linalg.det(cell)))
    if volume < MIN_CELL_VOLUME:
        raise StructureError(
            f"the cell has zero volume ({volume:.3g} Å³); a periodic crystal needs three "
            "linearly independent cell vectors"
        )
    return positions, cell


def neighbour_list(atoms: Atoms, cutoff: float) -> NeighbourList:
    """All periodic neighbour pairs of ``atoms`` within ``cutoff`` (distance ≤ cutoff).

    Parameters
    ----------
    atoms
        A crystal periodic in all three directions.
    cutoff
        Cutoff radius in Å (inclusive).

    Returns
    -------
    NeighbourList
        Both directions of every pair, sorted by central atom ``i``, then neighbour
        ``j``, then shift.

    Raises
    ------
    GraphSettingsError
        For an invalid cutoff.
    StructureError
        For a structure that is not a 3-D periodic crystal (see
        :func:`check_periodic_cell`).
    """
    from vesin import NeighborList

    cutoff = check_cutoff(cutoff)
    positions, cell = check_periodic_cell(atoms)
    calculator = NeighborList(cutoff=cutoff + CUTOFF_PAD, full_list=True)
    i, j, shift, distance = calculator.compute(
        points=positions, box=cell, periodic=True, quantities="ijSd"
    )
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64).reshape(-1, 3)
    distance = np.asarray(distance, dtype=np.float64)
    keep = distance <= cutoff
    i, j, shift, distance = i[keep], j[keep], shift[keep], distance[keep]
    order = np.lexsort((shift[:, 2], shift[:, 1], shift[:, 0], j, i))
    return NeighbourList(i[order], j[order], shift[order], distance[order])
