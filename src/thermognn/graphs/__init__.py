"""Crystal graphs (DESIGN.md §6): one PyG ``Data`` per periodic structure.

Nodes are atoms with mendeleev element features; edges are every periodic neighbour
pair within the cutoff (both directions, self-images and parallel images included),
found with the compiled ``vesin`` neighbour list. See :mod:`thermognn.graphs.build`
for the field conventions (``edge_index`` row 0 = neighbour/source, row 1 =
centre/target).
"""

from __future__ import annotations

from thermognn.graphs.build import DEFAULT_CUTOFF, GRAPH_FORMAT_VERSION, build_graph
from thermognn.graphs.dataset import LABEL_UNITS, GraphDataset, load_graph_dataset
from thermognn.graphs.features import (
    NODE_FEATURE_UNITS,
    NODE_FEATURES,
    element_features,
    element_table,
    node_features,
)
from thermognn.graphs.neighbours import (
    GraphSettingsError,
    NeighbourList,
    check_cutoff,
    neighbour_list,
)

__all__ = [
    "DEFAULT_CUTOFF",
    "GRAPH_FORMAT_VERSION",
    "LABEL_UNITS",
    "NODE_FEATURES",
    "NODE_FEATURE_UNITS",
    "GraphDataset",
    "GraphSettingsError",
    "NeighbourList",
    "build_graph",
    "check_cutoff",
    "element_features",
    "element_table",
    "load_graph_dataset",
    "neighbour_list",
    "node_features",
]
