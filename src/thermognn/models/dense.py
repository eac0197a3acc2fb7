"""The exact dense formulation of linear (GraphConv-style) aggregation.

GraphConv's neighbour sum Σ_j e_ji x_j is linear in x, so over all edges of a periodic
crystal graph — self-loops and parallel edges to several images included — it equals
``A @ X`` with the weighted adjacency matrix A[i, j] = Σ (weights of all edges j → i).
A batch of B graphs with at most n nodes becomes ``adj`` [B, n, n] and ``x`` [B, n, F]
(padded with zeros, with a node mask when sizes differ), and the aggregation becomes
one ``torch.bmm``: many times faster than the sparse scatter for the ~1,000 edges of a
40-atom cell with a 5.5 Å cutoff.

:class:`DenseGraphStore` precomputes these tensors once for a whole data set, so a
training batch is a single index operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data


@dataclass
class DenseBatch:
    """A batch of graphs in dense form.

    Attributes
    ----------
    x
        Node features ``[B, n, F]``, zero rows for padding.
    adj
        Weighted adjacency ``[B, n, n]``: ``adj[b, i, j]`` = sum of the weights of all
        edges j → i of graph b.
    n_nodes
        Number of real nodes per graph ``[B]`` (int64).
    mask
        ``[B, n]`` bool, True for real nodes; ``None`` when every graph has n nodes.
    """

    x: Tensor
    adj: Tensor
    n_nodes: Tensor
    mask: Tensor | None = None

    @property
    def num_graphs(self) -> int:
        """Number of graphs B."""
        return int(self.x.shape[0])

    def to(self, device: torch.device | str) -> DenseBatch:
        """The same batch on ``device``."""
        mask = None if self.mask is None else self.mask.to(device)
        return DenseBatch(self.x.to(device), self.adj.to(device), self.n_nodes.to(device), mask)


def dense_from_batch(batch: Batch | Data, weight: Tensor | None = None) -> DenseBatch:
    """Convert a (PyG) sparse batch to a :class:`DenseBatch`.

    Parameters
    ----------
    batch
        A PyG ``Batch`` (or a single ``Data``) with ``x`` and ``edge_index`` (row 0
        source j, row 1 target i).
    weight
        Edge weights ``[E]``; defaults to ``batch.edge_weight``, or 1 per edge.

    Returns
    -------
    DenseBatch
        Padded to the largest graph of the batch; parallel edges are summed.
    """
    x, edge_index = batch.x, batch.edge_index
    if weight is None:
        weight = getattr(batch, "edge_weight", None)
    if weight is None:
        weight = x.new_ones(edge_index.shape[1])
    node_graph = getattr(batch, "batch", None)
    if node_graph is None:
        node_graph = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    num_graphs = int(node_graph.max()) + 1 if x.shape[0] else 0
    n_nodes = torch.bincount(node_graph, minlength=num_graphs)
    n_max = int(n_nodes.max()) if num_graphs else 0
    start = torch.cumsum(n_nodes, 0) - n_nodes
    local = torch.arange(x.shape[0], device=x.device) - start[node_graph]

    dense_x = x.new_zeros(num_graphs, n_max, x.shape[1])
    dense_x[node_graph, local] = x
    src, dst = edge_index
    flat = (node_graph[dst] * n_max + local[dst]) * n_max + local[src]
    adj = x.new_zeros(num_graphs * n_max * n_max)
    adj.index_add_(0, flat, weight.to(x.dtype))
    adj = adj.view(num_graphs, n_max, n_max)
    mask = None
    if num_graphs and bool((n_nodes != n_max).any()):
        mask = torch.arange(n_max, device=x.device) < n_nodes.unsqueeze(1)
    return DenseBatch(dense_x, adj, n_nodes, mask)


class DenseGraphStore:
    """Dense tensors of a whole data set, computed once; batches by index.

    Parameters
    ----------
    graphs
        Graphs with ``x``, ``edge_index`` and ``edge_weight`` (already scaled).
    chunk
        Graphs converted per step while building (bounds peak memory).
    """

    def __init__(self, graphs: Sequence[Data], chunk: int = 512) -> None:
        parts = [
            dense_from_batch(Batch.from_data_list(list(graphs[i : i + chunk])))
            for i in range(0, len(graphs), chunk)
        ]
        n_max = max(p.x.shape[1] for p in parts)
        self.x = torch.cat([_pad(p.x, (1,), n_max) for p in parts])
        self.adj = torch.cat([_pad(p.adj, (1, 2), n_max) for p in parts])
        self.n_nodes = torch.cat([p.n_nodes for p in parts])

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def uniform(self) -> bool:
        """True when every graph has the same number of nodes (no masks needed)."""
        return bool((self.n_nodes == self.n_nodes[0]).all())

    def to(self, device: torch.device | str) -> DenseGraphStore:
        """Move the stored tensors to ``device`` (in place); returns self."""
        self.x, self.adj, self.n_nodes = (t.to(device) for t in (self.x, self.adj, self.n_nodes))
        return self

    def batch(self, index: Tensor) -> DenseBatch:
        """The graphs at ``index`` as a :class:`DenseBatch`, trimmed to their largest."""
        n_nodes = self.n_nodes[index]
        n_max = int(n_nodes.max())
        x = self.x[index, :n_max]
        adj = self.adj[index, :n_max, :n_max]
        mask = None
        if bool((n_nodes != n_max).any()):
            mask = torch.arange(n_max, device=x.device) < n_nodes.unsqueeze(1)
        return DenseBatch(x, adj, n_nodes, mask)


def _pad(t: Tensor, dims: tuple[int, ...], size: int) -> Tensor:
    """Zero-pad ``t`` at the end of each of ``dims`` up to ``size``."""
    pad: list[int] = []
    for d in range(t.dim() - 1, 0, -1):
        pad += [0, size - t.shape[d] if d in dims else 0]
    return torch.nn.functional.pad(t, pad)


def masked_batch_norm(norm: torch.nn.Module, h: Tensor, mask: Tensor | None) -> Tensor:
    """Apply ``norm`` to the real nodes of ``h`` [B, n, H] only; padding becomes zero.

    Batch statistics (training mode) and running averages then match the sparse model,
    which normalises exactly the real nodes.
    """
    batch, n, hidden = h.shape
    flat = h.reshape(batch * n, hidden)
    if mask is None:
        return norm(flat).view(batch, n, hidden)
    index = mask.reshape(-1).nonzero().squeeze(1)
    out = flat.new_zeros(flat.shape).index_copy(0, index, norm(flat.index_select(0, index)))
    return out.view(batch, n, hidden)


def dense_pool(h: Tensor, dense: DenseBatch, kind: str) -> Tensor:
    """Pool ``h`` [B, n, H] over the real nodes of each graph → [B, H]."""
    if kind == "max":
        if dense.mask is not None:
            h = h.masked_fill(~dense.mask.unsqueeze(-1), float("-inf"))
        return h.amax(dim=1)
    if dense.mask is not None:
        h = h * dense.mask.unsqueeze(-1).to(h.dtype)
    total = h.sum(dim=1)
    if kind == "add":
        return total
    return total / dense.n_nodes.unsqueeze(-1).to(h.dtype)
