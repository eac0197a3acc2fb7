"""Which bonds a trained model relies on: GNNExplainer edge masks (paper Fig. 5)."""

from __future__ import annotations

from thermognn.explain.importance import (
    PAPER_THRESHOLD,
    BondImportance,
    explain_graph,
    explain_run,
    pair_importance,
    species_pair_summary,
)
from thermognn.explain.models import (
    ModelExplanations,
    explain_models,
    explain_structures,
    interval,
)
from thermognn.explain.rows import select_rows

__all__ = [
    "PAPER_THRESHOLD",
    "BondImportance",
    "ModelExplanations",
    "explain_graph",
    "explain_models",
    "explain_run",
    "explain_structures",
    "interval",
    "pair_importance",
    "select_rows",
    "species_pair_summary",
]
