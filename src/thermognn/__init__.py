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
    "read_structures",
    "thermal_amplitudes",
    "sample_configurations",
    "StudyDatabase",
    "get_labeler",
    "label_database",
    "build_graph",
    "load_graph_dataset",
    "train_run",
    "evaluate_run",
    "predict_structures",
    "load_model",
    "run_sweep",
    "run_search",
    "run_learning_curves",
    "run_md_comparison",
    "explain_run",
    "property_vs_temperature",
    "reproduce",
    "write_report",
]

_LAZY = {
    "ThermognnError": "thermognn.errors",
    "reference_cell": "thermognn.structures",
    "read_structure": "thermognn.structures",
    "read_structures": "thermognn.structures",
    "thermal_amplitudes": "thermognn.phonons",
    "sample_configurations": "thermognn.sampling",
    "StudyDatabase": "thermognn.database",
    "get_labeler": "thermognn.labels",
    "label_database": "thermognn.labels",
    "build_graph": "thermognn.graphs",
    "load_graph_dataset": "thermognn.graphs",
    "train_run": "thermognn.training",
    "evaluate_run": "thermognn.training",
    "predict_structures": "thermognn.training",
    "load_model": "thermognn.inference",
    "run_sweep": "thermognn.studies",
    "run_search": "thermognn.studies",
    "run_learning_curves": "thermognn.studies",
    "run_md_comparison": "thermognn.studies",
    "explain_run": "thermognn.explain",
    "property_vs_temperature": "thermognn.temperature",
    "reproduce": "thermognn.paper.reproduce",
    "write_report": "thermognn.report",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'thermognn' has no attribute {name!r}")
