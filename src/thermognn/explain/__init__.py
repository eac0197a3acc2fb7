"""Which bonds a trained model relies on: GNNExplainer edge masks (paper Fig. 5)."""

from __future__ import annotations

from thermognn.explain.importance import (
    BondImportance,
    explain_graph,
    explain_run,
    species_pair_summary,
)

__all__ = ["BondImportance", "explain_graph", "explain_run", "species_pair_summary"]
