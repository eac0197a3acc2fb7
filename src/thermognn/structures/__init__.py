"""Reference crystals: built-in antiperovskite prototypes, solid solutions, any ASE file."""

from __future__ import annotations

from thermognn.structures.io import (
    check_structure,
    read_structure,
    read_structures,
    resolve_material,
)
from thermognn.structures.prototypes import (
    LATTICE_CONSTANTS,
    antiperovskite,
    mixed_halide_cell,
    parse_material,
    reference_cell,
)

__all__ = [
    "LATTICE_CONSTANTS",
    "antiperovskite",
    "check_structure",
    "mixed_halide_cell",
    "parse_material",
    "read_structure",
    "read_structures",
    "reference_cell",
    "resolve_material",
]
