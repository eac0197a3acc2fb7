"""thermognn: phonon-informed training sets and graph neural networks for crystals.

The top-level namespace is kept small and imports lazily so that ``thermognn --help``
stays instant; heavy libraries (torch, phonopy, tblite) load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from thermognn._version import __version__

__all__ = [
    "__version__",
    "ThermognnError",
    "reference_cell",
    "read_structure",
    "thermal_amplitudes",
    "sample_configurations",
    "StudyDatabase",
    "get_labeler",
    "label_database",
    "build_graph",
]

_LAZY = {
    "ThermognnError": "thermognn.errors",
    "reference_cell": "thermognn.structures",
    "read_structure": "thermognn.structures",
    "thermal_amplitudes": "thermognn.phonons",
    "sample_configurations": "thermognn.sampling",
    "StudyDatabase": "thermognn.database",
    "get_labeler": "thermognn.labels",
    "label_database": "thermognn.labels",
    "build_graph": "thermognn.graphs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'thermognn' has no attribute {name!r}")
