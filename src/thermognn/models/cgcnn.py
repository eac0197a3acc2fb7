"""A CGCNN-like family: PyG ``CGConv`` on a Gaussian expansion of the distance.

Xie & Grossman, "Crystal Graph Convolutional Neural Networks" (PRL 120, 145301, 2018).
Standardised node features are embedded linearly; each ``CGConv`` gates the message of
every edge j → i (self-loops to periodic images and parallel edges included) on the
pair of atoms and the radial basis of their distance (Å).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.nn import CGConv

from thermognn.models.layers import CrystalGNN, GaussianRBF, global_pool, readout_head
from thermognn.models.registry import Scaling, register_family
from thermognn.settings import DEFAULT_CUTOFF


@register_family("cgcnn", scaling=Scaling(node="standard", edge="identity", target="standard"))
class CGCNN(CrystalGNN):
    """CGCNN-like gated convolutions (PyG CGConv) on a Gaussian radial basis.

    Parameters
    ----------
    n_conv
        Number of CGConv layers.
    n_rbf
        Gaussian basis functions on [0, cutoff].
    cutoff
        Largest basis centre, Å (the trainer sets it to the graph cutoff).

    ``**shared``: ``in_channels``, ``hidden``, ``pool``, ``dropout`` (before the last
    layer) and ``n_targets`` of :class:`~thermognn.models.layers.CrystalGNN`.
    """

    title = "CGCNN"

    def __init__(
        self, n_conv: int = 3, n_rbf: int = 32, cutoff: float = DEFAULT_CUTOFF, **shared: Any
    ) -> None:
        super().__init__(**shared)
        hidden = self.hidden
        self.embed = torch.nn.Linear(self.in_channels, hidden)
        self.rbf = GaussianRBF(n_rbf, float(cutoff))
        self.convs = torch.nn.ModuleList(
            CGConv(hidden, dim=n_rbf, aggr="add", batch_norm=True) for _ in range(n_conv)
        )
        self.head = readout_head(
            hidden, hidden, torch.nn.Softplus(), self.dropout_rate, self.n_targets
        )

    def predict(
        self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None, batch: Tensor | None
    ) -> Tensor:
        """Standardised node features and distances (Å) → scaled predictions ``[B, T]``."""
        assert edge_weight is not None  # checked by CrystalGNN.forward
        h = self.embed(x)
        rbf = self.rbf(edge_weight)
        for conv in self.convs:
            h = torch.nn.functional.softplus(conv(h, edge_index, rbf))
        return self.head(global_pool(h, batch, self.pool))
