"""The paper's GraphConv networks (Benítez et al. 2026, eq. 1 and Supp. Fig. S4).

One configurable class, :class:`PaperGNN`, covers the six architectures of the paper:

=========  ======  =======  =================
name       n_conv  pool     out_activation
=========  ======  =======  =================
paper-1    3       max      sigmoid
paper-2    3       mean     sigmoid
paper-3    3       max      relu
paper-4    3       mean     relu
paper-5    2       max      sigmoid
paper-6    4       max      sigmoid
=========  ======  =======  =================

Layers: ``n_conv`` × [GraphConv (x'_i = W1 x_i + W2 Σ_j e_ji x_j, sum over every edge
j → i, periodic self-loops and parallel edges included) → BatchNorm → ReLU], global
pooling, dropout, Linear(hidden, 16), output activation, Linear(16, n_targets).

Where the output activation sits: between the two linear layers of the readout head.
DESIGN.md lists the head as "dropout, Linear(hidden,16), Linear(16,1)" and the paper
names sigmoid/ReLU as what distinguishes architectures; two linear layers with nothing
between them would collapse into one, and an activation *after* the last layer would
clamp predictions to the training range of the min-max scaled targets ([0, 1] for a
sigmoid, ≥ 0 for a ReLU), so that no test configuration could ever be predicted beyond
the extremes seen in training. The final layer is therefore linear.

The edge weight e_ji is 1 − d_ji / cutoff (the trainer scales it: nearer neighbours
weigh more, and the weight vanishes at the cutoff); runs written before used the
distance min-max scaled on their training split.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor
from torch_geometric.nn import GraphConv

from thermognn.models.dense import DenseBatch, dense_pool, masked_batch_norm
from thermognn.models.layers import ACTIVATIONS, CrystalGNN, check_choice, global_pool
from thermognn.models.registry import Scaling, register_family, register_model

#: Width of the hidden layer of the readout head (the paper's Linear(hidden, 16)).
HEAD_WIDTH = 16


@register_family("paper", scaling=Scaling(node="minmax", edge="proximity", target="minmax"))
class PaperGNN(CrystalGNN):
    """The paper's GraphConv network (configurable: n_conv, pool, out_activation).

    GraphConv + BatchNorm + ReLU blocks, global pooling and a two-layer head.

    Parameters
    ----------
    n_conv
        Number of convolutions, 2, 3 or 4.
    out_activation
        Activation between Linear(hidden, 16) and Linear(16, n_targets): ``sigmoid``,
        ``relu`` or ``none``.
    pool
        Global pooling, ``max`` or ``mean`` (``add`` also accepted).

    ``**shared``: ``in_channels`` (4: atomic number, mass, radius, electronegativity),
    ``hidden`` (channels of every convolution), ``dropout`` (on the pooled graph
    features) and ``n_targets`` of :class:`~thermognn.models.layers.CrystalGNN`;
    ``edge_weight`` is optional (GraphConv without it weighs every edge 1).
    """

    supports_dense = True
    needs_distances = False

    def __init__(
        self, n_conv: int = 3, out_activation: str = "sigmoid", pool: str = "max", **shared: Any
    ) -> None:
        super().__init__(pool, **shared)
        in_channels, hidden = self.in_channels, self.hidden
        check_choice("n_conv", n_conv, {2, 3, 4})
        check_choice("out_activation", out_activation, set(ACTIVATIONS))
        widths = [in_channels] + [hidden] * n_conv
        self.convs = torch.nn.ModuleList(
            GraphConv(c_in, c_out, aggr="add") for c_in, c_out in zip(widths, widths[1:])
        )
        self.norms = torch.nn.ModuleList(torch.nn.BatchNorm1d(hidden) for _ in range(n_conv))
        self.out_activation = out_activation
        self.dropout = torch.nn.Dropout(self.dropout_rate)
        self.lin1 = torch.nn.Linear(hidden, HEAD_WIDTH)
        self.lin2 = torch.nn.Linear(HEAD_WIDTH, self.n_targets)

    def predict(
        self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None, batch: Tensor | None
    ) -> Tensor:
        """Sparse (PyG) pass: scaled node features and e_ji of eq. 1 → ``[B, n_targets]``."""
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = torch.relu(norm(conv(x, edge_index, edge_weight)))
        return self.head(global_pool(x, batch, self.pool))

    def forward_dense(self, dense: DenseBatch) -> Tensor:
        """The same network on a :class:`DenseBatch` (same parameters, same result).

        Returns
        -------
        Tensor
            Scaled predictions ``[B, n_targets]``.
        """
        h = dense.x
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = torch.relu(
                masked_batch_norm(
                    norm, dense_graph_conv(cast(GraphConv, conv), h, dense.adj), dense.mask
                )
            )
        return self.head(dense_pool(h, dense, self.pool))

    def head(self, pooled: Tensor) -> Tensor:
        """Dropout, Linear(hidden, 16), output activation, Linear(16, n_targets)."""
        h = self.lin1(self.dropout(pooled))
        return self.lin2(ACTIVATIONS[self.out_activation](h))


def dense_graph_conv(conv: GraphConv, h: Tensor, adj: Tensor) -> Tensor:
    """PyG ``GraphConv`` (sum aggregation) on dense input with its own parameters.

    Computes ``(adj @ h) W_rel^T + b_rel + h W_root^T``; when the layer widens the
    features the aggregation runs first (on fewer channels), otherwise last — the same
    linear map either way.

    Parameters
    ----------
    conv
        The layer whose weights are used.
    h
        Node features ``[B, n, F_in]``.
    adj
        Weighted adjacency ``[B, n, n]``.
    """
    w_rel, b_rel, w_root = conv.lin_rel.weight, conv.lin_rel.bias, conv.lin_root.weight
    root = torch.nn.functional.linear(h, w_root)
    if w_rel.shape[1] <= w_rel.shape[0]:
        rel = torch.nn.functional.linear(torch.bmm(adj, h), w_rel, b_rel)
    else:
        rel = torch.bmm(adj, torch.nn.functional.linear(h, w_rel)) + b_rel
    return rel + root


_PAPER_PRESETS = {
    "paper-1": (3, "max", "sigmoid"),
    "paper-2": (3, "mean", "sigmoid"),
    "paper-3": (3, "max", "relu"),
    "paper-4": (3, "mean", "relu"),
    "paper-5": (2, "max", "sigmoid"),
    "paper-6": (4, "max", "sigmoid"),
}

for _name, (_n_conv, _pool, _act) in _PAPER_PRESETS.items():
    register_model(
        _name,
        family="paper",
        description=f"paper architecture: {_n_conv} GraphConv, {_pool} pool, {_act}",
        n_conv=_n_conv,
        pool=_pool,
        out_activation=_act,
    )
