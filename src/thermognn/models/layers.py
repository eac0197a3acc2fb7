"""Building blocks shared by the model families: pooling, radial basis, activations."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

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
