"""A SchNet-like family: continuous-filter convolutions on a radial basis.

Schütt et al., "SchNet – a deep learning architecture for molecules and materials"
(J. Chem. Phys. 148, 241722, 2018). Atoms start from an embedding of their atomic
number (column 0 of the node features, unscaled); each interaction block convolves
neighbour features with filters generated from a Gaussian expansion of the distance
(in Å), damped by a cosine cutoff so that edges fade smoothly to zero at the graph
cutoff. Every edge contributes, self-loops to periodic images and parallel edges to
several images included (PyG adds or removes none here).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing

from thermognn.models.layers import (
    CrystalGNN,
    GaussianRBF,
    ShiftedSoftplus,
    cosine_cutoff,
    global_pool,
    readout_head,
)
from thermognn.models.registry import RAW_INPUTS, register_family
from thermognn.settings import DEFAULT_CUTOFF

#: Largest atomic number the embedding table holds.
MAX_Z = 100


class CFConv(MessagePassing):
    """Continuous-filter convolution: x'_i = Σ_j x_j ⊙ W(r_ji) · f_cut(r_ji).

    Parameters
    ----------
    hidden
        Atom feature channels.
    n_rbf
        Radial basis functions per distance.
    n_filters
        Filter channels.
    """

    def __init__(self, hidden: int, n_rbf: int, n_filters: int) -> None:
        super().__init__(aggr="add")
        self.filter_net = torch.nn.Sequential(
            torch.nn.Linear(n_rbf, n_filters),
            ShiftedSoftplus(),
            torch.nn.Linear(n_filters, n_filters),
        )
        self.lin_in = torch.nn.Linear(hidden, n_filters, bias=False)
        self.lin_out = torch.nn.Linear(n_filters, hidden)

    def forward(self, x: Tensor, edge_index: Tensor, rbf: Tensor, envelope: Tensor) -> Tensor:
        """Convolve ``x`` [N, hidden] over the edges; ``rbf`` [E, n_rbf], ``envelope`` [E]."""
        filters = self.filter_net(rbf) * envelope.unsqueeze(-1)
        out = self.propagate(edge_index, x=self.lin_in(x), filters=filters)
        return self.lin_out(out)

    def message(self, x_j: Tensor, filters: Tensor) -> Tensor:
        """Message of edge j → i."""
        return x_j * filters


class Interaction(torch.nn.Module):
    """SchNet interaction block with a residual update."""

    def __init__(self, hidden: int, n_rbf: int, n_filters: int) -> None:
        super().__init__()
        self.conv = CFConv(hidden, n_rbf, n_filters)
        self.act = ShiftedSoftplus()
        self.lin = torch.nn.Linear(hidden, hidden)

    def forward(self, x: Tensor, edge_index: Tensor, rbf: Tensor, envelope: Tensor) -> Tensor:
        """Updated atom features ``[N, hidden]``."""
        return x + self.lin(self.act(self.conv(x, edge_index, rbf, envelope)))


@register_family("schnet", scaling=RAW_INPUTS)
class SchNetGNN(CrystalGNN):
    """SchNet-like continuous-filter convolutions on a Gaussian radial basis.

    Parameters
    ----------
    n_interactions
        Interaction blocks.
    n_rbf
        Gaussian basis functions on [0, cutoff].
    n_filters
        Filter channels (default: ``hidden``).
    cutoff
        Cutoff of the radial basis and of the cosine envelope, Å (the trainer sets it
        to the graph cutoff).

    ``**shared``: ``in_channels`` (column 0 must be the atomic number), ``hidden``,
    ``pool`` (of the atom-wise outputs: ``mean`` for intensive labels), ``dropout`` (in
    the atom-wise readout) and ``n_targets`` of :class:`~thermognn.models.layers.CrystalGNN`.
    """

    title = "SchNet"

    def __init__(
        self,
        n_interactions: int = 3,
        n_rbf: int = 32,
        n_filters: int | None = None,
        cutoff: float = DEFAULT_CUTOFF,
        **shared: Any,
    ) -> None:
        super().__init__(**shared)
        hidden = self.hidden
        if self.in_channels < 1:
            raise ValueError("SchNet needs the atomic number as node feature column 0")
        n_filters = n_filters or hidden
        self.cutoff = float(cutoff)
        self.embedding = torch.nn.Embedding(MAX_Z + 1, hidden)
        self.rbf = GaussianRBF(n_rbf, self.cutoff)
        self.interactions = torch.nn.ModuleList(
            Interaction(hidden, n_rbf, n_filters) for _ in range(n_interactions)
        )
        self.readout = readout_head(
            hidden, hidden // 2, ShiftedSoftplus(), self.dropout_rate, self.n_targets
        )

    def predict(
        self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None, batch: Tensor | None
    ) -> Tensor:
        """Raw node features (column 0: atomic number) and distances (Å) → ``[B, T]``."""
        assert edge_weight is not None  # checked by CrystalGNN.forward
        z = x[:, 0].round().long().clamp(0, MAX_Z)
        h = self.embedding(z)
        rbf = self.rbf(edge_weight)
        envelope = cosine_cutoff(edge_weight, self.cutoff)
        for block in self.interactions:
            h = block(h, edge_index, rbf, envelope)
        return global_pool(self.readout(h), batch, self.pool)
