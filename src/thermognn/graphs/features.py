"""Node features of crystal graphs: per-element data from ``mendeleev``.

Every node (atom) carries four features, in this order (:data:`NODE_FEATURES`):

================== ====== ==========================================================
feature            unit   mendeleev source
================== ====== ==========================================================
atomic_number      --     ``atomic_number``
atomic_mass        u      ``atomic_weight`` (standard atomic weight)
atomic_radius      Å      ``atomic_radius`` (empirical, Slater 1964; pm / 100)
electronegativity  --     ``en_pauling`` (Pauling scale)
================== ====== ==========================================================

The element table is read from mendeleev once, lazily, on first use (importing
mendeleev costs a few seconds), and each element's row is cached; nothing is typed in by
hand. An element for which mendeleev has no value of a feature (no Pauling
electronegativity for He, Ne, Ar, Kr; no atomic radius for Kr, Xe, Rn) raises
:class:`~thermognn.errors.StructureError` naming the element and the field.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from thermognn.errors import StructureError

#: Names of the node features, in column order of ``Data.x``.
NODE_FEATURES: tuple[str, ...] = (
    "atomic_number",
    "atomic_mass",
    "atomic_radius",
    "electronegativity",
)

#: Units of the node features, same order as :data:`NODE_FEATURES`.
NODE_FEATURE_UNITS: tuple[str, ...] = ("", "u", "Å", "")

#: mendeleev column behind each feature, same order as :data:`NODE_FEATURES`.
_MENDELEEV_COLUMNS: tuple[str, ...] = (
    "atomic_number",
    "atomic_weight",
    "atomic_radius",
    "en_pauling",
)

_PM_TO_ANGSTROM = 0.01


class ElementRow(NamedTuple):
    """One element's raw data as read from mendeleev (NaN where mendeleev has none)."""

    symbol: str
    atomic_number: float
    atomic_mass: float
    atomic_radius: float
    electronegativity: float


@lru_cache(maxsize=1)
def element_table() -> dict[int, ElementRow]:
    """The element table read from mendeleev, keyed by atomic number.

    Read once per process (``mendeleev.fetch.fetch_table("elements")``) and cached.

    Returns
    -------
    dict[int, ElementRow]
        Atomic number → symbol, atomic number, mass (u), radius (Å) and Pauling
        electronegativity; missing values are NaN.
    """
    from mendeleev.fetch import fetch_table

    frame = fetch_table("elements")
    table: dict[int, ElementRow] = {}
    for record in frame[["symbol", *_MENDELEEV_COLUMNS]].itertuples(index=False):
        symbol, number, mass, radius, en = record
        table[int(number)] = ElementRow(
            symbol=str(symbol),
            atomic_number=float(number),
            atomic_mass=_as_float(mass),
            atomic_radius=_as_float(radius) * _PM_TO_ANGSTROM,
            electronegativity=_as_float(en),
        )
    return table


def _as_float(value: object) -> float:
    """``value`` as a float, NaN for None / NA."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


@lru_cache(maxsize=256)
def element_features(atomic_number: int) -> tuple[float, float, float, float]:
    """The node features of one element, in :data:`NODE_FEATURES` order.

    Parameters
    ----------
    atomic_number
        Atomic number Z.

    Returns
    -------
    tuple of float
        Atomic number, atomic mass (u), atomic radius (Å), Pauling electronegativity.

    Raises
    ------
    StructureError
        When Z is not in the element table, or mendeleev lacks one of the features.
    """
    table = element_table()
    z = int(atomic_number)
    if z not in table:
        raise StructureError(
            f"atomic number {z} is not in the element table (Z = {min(table)}–{max(table)})"
        )
    row = table[z]
    values = (row.atomic_number, row.atomic_mass, row.atomic_radius, row.electronegativity)
    for name, value in zip(NODE_FEATURES, values, strict=True):
        if not math.isfinite(value):
            raise StructureError(
                f"element {row.symbol} (Z = {z}) has no {name} in mendeleev's element table; "
                "it cannot be a node of a crystal graph"
            )
    return values


def node_features(numbers: npt.ArrayLike) -> np.ndarray:
    """Node feature matrix for a list of atomic numbers.

    Parameters
    ----------
    numbers
        Atomic numbers, shape ``[n]``.

    Returns
    -------
    numpy.ndarray
        float32 array ``[n, 4]``: atomic number, atomic mass (u), atomic radius (Å),
        Pauling electronegativity (:data:`NODE_FEATURES`).

    Raises
    ------
    StructureError
        For an element without one of the features (see :func:`element_features`).
    """
    z = np.asarray(numbers)
    if z.ndim != 1:
        raise StructureError(f"atomic numbers must be a 1-D sequence, got shape {z.shape}")
    if z.size and not np.all(z == np.round(z)):
        raise StructureError("atomic numbers must be integers")
    z = z.astype(np.int64)
    unique, inverse = np.unique(z, return_inverse=True)
    rows = np.array([element_features(int(u)) for u in unique], dtype=np.float64)
    return rows.reshape(len(unique), len(NODE_FEATURES))[inverse.reshape(-1)].astype(np.float32)
