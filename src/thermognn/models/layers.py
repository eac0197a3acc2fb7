"""Building blocks shared by the model families: base class, pooling, radial basis, heads."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

from thermognn.graphs.features import NODE_FEATURES

#: Graph pooling operators by name (PyG, sparse batches).
POOLS = {"max": global_max_pool, "mean": global_mean_pool, "add": global_add_pool}

#: Activations between the two linear layers of the readout head, by name.
ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu": torch.relu, "none": lambda t: t}


def check_choice(name: str, value: object, choices: object) -> None:
    """Raise a one-line ``ValueError`` when ``value`` is not one of ``choices``."""
    if value not in choices:  # type: ignore[operator]
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")  # type: ignore[call-overload]


def global_pool(x: Tensor, batch: Tensor | None, kind: str) -> Tensor:
    """Pool node features ``[N, H]`` into graph features ``[B, H]``.

    ``batch`` maps each node to its graph (``None``: a single graph).
    """
    return POOLS[kind](x, batch)


class CrystalGNN(torch.nn.Module):
    """Base of the model families: the forward contract and the shared arguments.

    A family implements :meth:`predict`; calling the model checks the inputs and runs
    it. Constructor arguments every family takes: a family's constructor declares
    its own and passes these on (``**shared``), overriding a default where it differs.

    Parameters
    ----------
    in_channels
        Node feature columns per atom (default: the graphs' :data:`NODE_FEATURES`).
    hidden
        Atom feature channels.
    pool
        Global pooling: ``mean``, ``max`` or ``add``.
    dropout
        Dropout probability in the readout.
    n_targets
        Number of predicted labels.

    Attributes
    ----------
    supports_dense
        Whether the family also has ``forward_dense(DenseBatch)``.
    needs_distances
        Whether ``edge_weight`` is required.
    """

    supports_dense = False
    needs_distances = True
    #: How error messages name the family.
    title = "model"

    def __init__(
        self,
        pool: str = "mean",
        *,
        in_channels: int = len(NODE_FEATURES),
        hidden: int = 64,
        dropout: float = 0.0,
        n_targets: int = 1,
    ) -> None:
        super().__init__()
        check_choice("pool", pool, set(POOLS))
        self.pool = pool
        self.in_channels = in_channels
        self.hidden = hidden
        self.dropout_rate = dropout
        self.n_targets = n_targets

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_weight: Tensor | None = None,
        batch: Tensor | None = None,
    ) -> Tensor:
        """Predict from a (batched) crystal graph.

        Parameters
        ----------
        x
            Node features ``[N, F]`` (scaled as the family's ``Scaling`` says).
        edge_index
            ``[2, E]``, row 0 source j, row 1 target i.
        edge_weight
            Edge distances ``[E]`` (Å, or scaled for the ``paper`` family).
        batch
            Graph index of each node ``[N]``; ``None`` for one graph.

        Returns
        -------
        Tensor
            Scaled predictions ``[B, n_targets]``.
        """
        if edge_weight is None and self.needs_distances:
            raise ValueError(f"{self.title} needs the edge distances (edge_weight, Å)")
        return self.predict(x, edge_index, edge_weight, batch)

    def predict(
        self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None, batch: Tensor | None
    ) -> Tensor:
        """The family's network; see :meth:`forward` for the arguments."""
        raise NotImplementedError


def readout_head(
    hidden: int, width: int, activation: torch.nn.Module, dropout: float, n_targets: int
) -> torch.nn.Sequential:
    """Linear(hidden, width) → activation → dropout → Linear(width, n_targets)."""
    return torch.nn.Sequential(
        torch.nn.Linear(hidden, width),
        activation,
        torch.nn.Dropout(dropout),
        torch.nn.Linear(width, n_targets),
    )


class ShiftedSoftplus(torch.nn.Module):
    """softplus(x) − ln 2 (SchNet's activation; zero at zero)."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = math.log(2.0)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the activation elementwise."""
        return torch.nn.functional.softplus(x) - self.shift


class GaussianRBF(torch.nn.Module):
    """Gaussian radial-basis expansion of interatomic distances.

    exp(−γ (d − μ_k)²) with ``n_rbf`` centres μ_k evenly spaced on [0, cutoff] Å and
    γ = 1 / (2 Δ²), Δ the spacing of the centres.

    Parameters
    ----------
    n_rbf
        Number of basis functions.
    cutoff
        Largest centre, Å.
    """

    def __init__(self, n_rbf: int, cutoff: float) -> None:
        super().__init__()
        if n_rbf < 2 or cutoff <= 0:
            raise ValueError(f"need n_rbf ≥ 2 and cutoff > 0 Å, got {n_rbf}, {cutoff}")
        centres = torch.linspace(0.0, cutoff, n_rbf)
        spacing = float(centres[1] - centres[0])
        self.centres: Tensor
        self.register_buffer("centres", centres)
        self.gamma = 0.5 / spacing**2

    def forward(self, distance: Tensor) -> Tensor:
        """Distances ``[E]`` (Å) → basis values ``[E, n_rbf]``."""
        return torch.exp(-self.gamma * (distance.unsqueeze(-1) - self.centres) ** 2)


def cosine_cutoff(distance: Tensor, cutoff: float) -> Tensor:
    """Smooth cutoff ½ (cos(π d / r_c) + 1) for d < r_c, 0 beyond (d in Å)."""
    value = 0.5 * (torch.cos(distance * (math.pi / cutoff)) + 1.0)
    return value * (distance < cutoff).to(distance.dtype)
