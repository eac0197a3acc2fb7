"""On-disk cache of the graphs of one row selection.

The graphs of one selection are stored as a single ``.npz`` file (no pickles,
loaded with ``allow_pickle=False``) named by a SHA-256 key over the rows' id, unique id
and modification time, the cutoff, the node feature schema and
:data:`~thermognn.graphs.build.GRAPH_FORMAT_VERSION`. Changing any of them (relabelling
a row or rewriting its atoms moves its modification time, a new cutoff) gives a new key
and a rebuild; stale cache files are left in place, never deleted. The file holds no
labels: the four labels of one selection share it, and ``y`` is filled from the rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data

from thermognn.graphs.build import GRAPH_FORMAT_VERSION, graph_of
from thermognn.graphs.features import NODE_FEATURES
from thermognn.graphs.rows import SelectedRow

logger = logging.getLogger(__name__)


def default_cache_dir(db_path: Path | None) -> Path | None:
    """``<db file>.graphs/`` next to a local database file."""
    return None if db_path is None else db_path.with_name(db_path.name + ".graphs")


def cache_key(rows: list[SelectedRow], cutoff: float) -> str:
    """SHA-256 over the rows' identity (id, unique id, modification time) and the settings."""
    record = {
        "graph_format": GRAPH_FORMAT_VERSION,
        "layout": "graphs without labels",
        "node_features": list(NODE_FEATURES),
        "cutoff": float(cutoff).hex(),
        "rows": [[row.id, row.unique_id, float(row.mtime).hex()] for row in rows],
    }
    return hashlib.sha256(json.dumps(record).encode()).hexdigest()


_NODE_FIELDS = ("x", "z", "pos")
_EDGE_FIELDS = ("edge_attr", "edge_shift")


def write_cache(path: Path, key: str, graphs: list[Data], cutoff: float) -> None:
    """Write the graphs (without ``y``) as one ``.npz`` file, atomically."""
    arrays: dict[str, Any] = {
        "key": np.array(key),
        "cutoff": np.array(cutoff),
        "node_ptr": np.cumsum([0] + [g.num_nodes for g in graphs]).astype(np.int64),
        "edge_ptr": np.cumsum([0] + [g.num_edges for g in graphs]).astype(np.int64),
        "edge_index": torch.cat([g.edge_index for g in graphs], dim=1).numpy(),
        "cell": torch.cat([g.cell for g in graphs]).numpy(),
    }
    for name in _NODE_FIELDS + _EDGE_FIELDS:
        arrays[name] = torch.cat([g[name] for g in graphs]).numpy()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            np.savez(handle, **arrays)
        os.replace(handle.name, path)
    except OSError as err:
        logger.warning("could not write the graph cache %s: %s", path, err)


def read_cache(path: Path, key: str) -> list[Data] | None:
    """Read the graphs (without ``y``) of a cache file; ``None`` when absent, stale or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["key"]) != key:
                return None
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, KeyError) as err:
        logger.warning("ignoring unreadable graph cache %s: %s", path, err)
        return None
    node_ptr, edge_ptr = arrays["node_ptr"].tolist(), arrays["edge_ptr"].tolist()
    # one tensor per field; each graph holds views of it (trainers copy before scaling)
    tensors = {name: torch.from_numpy(arrays[name]) for name in (*_NODE_FIELDS, *_EDGE_FIELDS)}
    edge_index, cell = torch.from_numpy(arrays["edge_index"]), torch.from_numpy(arrays["cell"])
    graphs = []
    for k in range(len(node_ptr) - 1):
        n0, n1, e0, e1 = node_ptr[k], node_ptr[k + 1], edge_ptr[k], edge_ptr[k + 1]
        fields = {name: tensors[name][n0:n1] for name in _NODE_FIELDS}
        fields.update({name: tensors[name][e0:e1] for name in _EDGE_FIELDS})
        fields.update(edge_index=edge_index[:, e0:e1], cell=cell[k : k + 1])
        graphs.append(graph_of(fields))
    return graphs
