"""A moment-invariant family: atom-centred density moments (l ≤ 2) under a learned head.

Each atom i gets a neighbour density expanded in radial functions R_n(d) (Gaussians on
[r_min, cutoff], damped by a cosine cutoff), neighbour-species channels s_k(Z_j)
(:func:`species_channels`, fixed functions of the element) and real spherical
harmonics Y_lm(r̂) of the bond direction for l = 0, 1, 2::

    A_i[c, lm] = Σ_j R_n(d_ij) s_k(Z_j) Y_lm(r̂_ij),      c = (k, n)

Its rotation invariants are the l = 0 moments A_i[c, 0] and, for l = 1 and 2, the
power spectrum Σ_m A_i[c, lm] A_i[c', lm] for every channel pair c ≤ c' — the
three-body SOAP / ACE descriptor (Bartók et al., PRB 87, 184115, 2013; Drautz, PRB 99,
014104, 2019). The atom-wise head is linear in the standardised invariants with weights
chosen by the atom's own element, plus a small shared MLP for what is not linear; the
crystal prediction is the mean over atoms. Edges are periodic images within the graph
cutoff, self-images included; the model needs the edge vectors (``edge_vec``, Å,
r_j + S·cell − r_i), not only the distances.

The invariants have no parameters, so the sparse batch source computes them once per
graph (:meth:`MomentInvariants.precompute`) and training only runs the head.

Why this family: on the bundled Ag3SBr phonon cells the band gap and the valence band
maximum depend on bond directions, which distance-only convolutions (the paper family,
SchNet, CGCNN) cannot see, and a near-linear head on a complete three-body basis fits
a few hundred cells without the variance of a deep network.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from thermognn.graphs.build import edge_vectors  # noqa: F401 - part of this module's API
from thermognn.models.layers import CrystalGNN, global_pool
from thermognn.models.registry import RAW_INPUTS, register_family
from thermognn.settings import DEFAULT_CUTOFF

#: Largest atomic number the embeddings hold.
MAX_Z = 100

#: Real spherical harmonics, orthonormal up to one factor per l (so Σ_m products are
#: rotation invariant): l = 1 → (x, y, z); l = 2 → the five below.
_SQRT3 = math.sqrt(3.0)


def harmonics(unit: Tensor, dim: int = -1) -> tuple[Tensor, Tensor, Tensor]:
    """Real spherical harmonics of unit vectors ``[E, 3]`` for l = 0, 1, 2.

    Parameters
    ----------
    unit
        Unit vectors, their x, y, z along ``dim`` (``[E, 3]`` by default, or ``[3, E]``
        with ``dim=0``).
    dim
        The axis of the components, in the input and in the outputs.

    Returns
    -------
    tuple of Tensor
        ``[E, 1]``, ``[E, 3]`` and ``[E, 5]`` (components along ``dim``); within each l
        the components are an orthonormal basis times a common factor.
    """
    x, y, z = unit.unbind(dim)
    l2 = torch.stack(
        (x * y, y * z, x * z, 0.5 * (x * x - y * y), (3.0 * z * z - 1.0) / (2.0 * _SQRT3)), dim
    )
    return torch.ones_like(x).unsqueeze(dim), unit, l2


#: Neighbour-species channels: fixed affine maps of (1, Z, atomic radius, electronegativity).
N_CHANNELS = 4


def species_channels(x: Tensor) -> Tensor:
    """Fixed neighbour-species channels ``[N, 4]`` from raw node features ``[N, ≥ 4]``.

    A constant, the atomic number, the atomic radius (Å) and the Pauling
    electronegativity, each mapped to order one by fixed constants. For up to four
    elements their span equals that of one-hot element channels, so the power spectrum
    over them is an invertible linear map of the element-resolved one.
    """
    one = torch.ones_like(x[:, 0])
    return torch.stack(
        (one, (x[:, 0] - 40.0) / 20.0, (x[:, 2] - 1.3) / 0.3, (x[:, 3] - 2.2) / 0.6), -1
    )


@register_family(
    "moments",
    scaling=RAW_INPUTS,
    search_space={
        "lr": {"low": 3e-4, "high": 1e-2, "log": True},
        "weight_decay": [0.0, 1e-5, 1e-4],
        "hidden": [0, 32, 64],
        "n_rbf": [4, 6, 8],
        "dropout": [0.0, 0.1],
    },
)
class MomentInvariants(CrystalGNN):
    """Atom-centred density moments (l ≤ 2 power spectrum) under a learned head.

    Power-spectrum invariants of the neighbour density, an element-wise linear head
    and a shared MLP.

    Parameters
    ----------
    hidden
        Width of the shared nonlinear atom-wise MLP (0: the head is purely linear).
    n_rbf
        Radial Gaussians on [r_min, cutoff].
    r_min
        First Gaussian centre, Å (no bond is shorter in practice).
    cutoff
        Outer radius of the basis and the cosine envelope, Å (the trainer sets it to
        the graph cutoff).

    ``**shared``: ``in_channels`` (column 0 must be the atomic number, unscaled),
    ``pool`` (of the atom-wise outputs: ``mean`` for intensive labels, or ``add``),
    ``dropout`` (in the MLP) and ``n_targets`` of
    :class:`~thermognn.models.layers.CrystalGNN`.
    """

    title = "moments"
    #: The sparse batch source passes ``edge_vec`` (Å) to this family.
    needs_vectors = True

    def __init__(
        self,
        hidden: int = 32,
        n_rbf: int = 6,
        r_min: float = 2.0,
        cutoff: float = DEFAULT_CUTOFF,
        **shared: Any,
    ) -> None:
        super().__init__(hidden=hidden, **shared)
        in_channels, n_targets = self.in_channels, self.n_targets
        if in_channels < 4 or n_rbf < 2 or not 0 <= r_min < cutoff:
            raise ValueError(
                f"need the 4 element features, n_rbf ≥ 2 and 0 ≤ r_min < cutoff, got "
                f"{in_channels}, {n_rbf}, {r_min}, {cutoff}"
            )
        self.cutoff = float(cutoff)
        centres = torch.linspace(float(r_min), self.cutoff, n_rbf)
        self.centres: Tensor
        self.register_buffer("centres", centres)
        self.width = float(centres[1] - centres[0])
        channels = N_CHANNELS * n_rbf
        first, second = torch.triu_indices(channels, channels)
        self.pairs: Tensor  # flat positions of the pairs c ≤ c' in a C × C matrix
        self.register_buffer("pairs", first * channels + second, persistent=False)
        self.n_invariants = channels + 2 * self.pairs.shape[0]
        self.norm = torch.nn.BatchNorm1d(self.n_invariants, affine=False)
        self.linear = torch.nn.Embedding(MAX_Z + 1, self.n_invariants * n_targets)
        torch.nn.init.zeros_(self.linear.weight)
        self.bias = torch.nn.Embedding(MAX_Z + 1, n_targets)
        torch.nn.init.zeros_(self.bias.weight)
        self.mlp: torch.nn.Module | None = None
        if hidden > 0:
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(self.n_invariants, hidden),
                torch.nn.SiLU(),
                torch.nn.Dropout(self.dropout_rate),
                torch.nn.Linear(hidden, n_targets),
            )

    def precompute_key(self) -> tuple[float, ...]:
        """What :meth:`precompute` depends on (a batch source caches by this key)."""
        return (self.cutoff, self.width, *self.centres.tolist())

    @torch.no_grad()
    def precompute(self, x: Tensor, edge_index: Tensor, edge_vec: Tensor) -> Tensor:
        """Rotation-invariant atom descriptors ``[N, n_invariants]`` (unnormalised).

        A fixed function of the geometry and the elements (no parameters), so a batch
        source computes it once per graph and passes it back as ``node_inputs``.

        Parameters
        ----------
        x
            Node features ``[N, 4]`` (atomic number, mass, radius Å, electronegativity).
        edge_index
            ``[2, E]``, row 0 source j, row 1 target i.
        edge_vec
            Bond vectors ``[E, 3]`` (Å).
        """
        src, dst = edge_index
        # edges last ([·, E]): the per-edge products and the scatter run contiguous
        columns = edge_vec.T
        distance = columns.norm(dim=0).clamp_min(1e-9)
        envelope = 0.5 * (torch.cos(distance * (math.pi / self.cutoff)) + 1.0)
        envelope = envelope * (distance < self.cutoff).to(distance.dtype)
        radial = torch.exp(-0.5 * ((distance - self.centres[:, None]) / self.width) ** 2)
        radial = radial * envelope  # [n_rbf, E]
        ylm = torch.cat(harmonics(columns / distance, dim=0), dim=0)  # [9, E]
        n_rbf = radial.shape[0]
        # Sum per neighbour element first (few elements), then mix into the channels.
        numbers, node_element = torch.unique(x[:, 0], return_inverse=True)
        element = node_element.index_select(0, src)
        n_atoms, n_elements = x.shape[0], numbers.shape[0]
        channels = x.new_zeros(n_elements, N_CHANNELS).index_copy_(
            0, node_element, species_channels(x)
        )
        by_element = ylm.new_zeros(n_rbf, 9, n_atoms * n_elements)
        key = dst * n_elements + element
        for r in range(n_rbf):  # one radial function at a time: no [n_rbf·9, E] product
            by_element[r].index_add_(1, key, ylm * radial[r])
        by_element = by_element.view(n_rbf, 9, n_atoms, n_elements)
        moment = torch.einsum("tk,rmnt->nkrm", channels, by_element).flatten(1, 2)  # [N, C, 9]
        parts = [moment[..., 0]]
        for lo, hi in ((1, 4), (4, 9)):
            block = moment[..., lo:hi]  # [N, C, M]
            gram = torch.bmm(block, block.transpose(1, 2)).flatten(1)  # [N, C·C]
            parts.append(gram.index_select(1, self.pairs))
        return torch.cat(parts, dim=1)

    def predict(
        self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None, batch: Tensor | None
    ) -> Tensor:
        """Not reachable: the family needs edge vectors; see :meth:`forward`."""
        raise ValueError("moments needs the edge vectors (edge_vec, Å)")

    def forward(  # type: ignore[override]
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_weight: Tensor | None = None,
        batch: Tensor | None = None,
        edge_vec: Tensor | None = None,
        node_inputs: Tensor | None = None,
    ) -> Tensor:
        """Predict from a (batched) crystal graph with bond vectors.

        Parameters
        ----------
        x
            Node features ``[N, F]``, column 0 the atomic number (unscaled).
        edge_index
            ``[2, E]``, row 0 source j, row 1 target i.
        edge_weight
            Distances ``[E]`` (unused: they follow from ``edge_vec``).
        batch
            Graph of each node ``[N]``; ``None`` for one graph.
        edge_vec
            Bond vectors r_j + S·cell − r_i ``[E, 3]`` (Å); needed unless
            ``node_inputs`` is given.
        node_inputs
            :meth:`precompute` of these graphs, when a batch source has cached it.

        Returns
        -------
        Tensor
            Scaled predictions ``[B, n_targets]``.
        """
        if node_inputs is None:
            if edge_vec is None:
                raise ValueError("moments needs the edge vectors (edge_vec, Å)")
            node_inputs = self.precompute(x, edge_index, edge_vec.to(x.dtype))
        z = x[:, 0].round().long().clamp(0, MAX_Z)
        features = self.norm(node_inputs)
        # the element-wise linear head, per element present (not gathered per atom: the
        # [N, F, T] gather and its scatter-add backward dominated a training step)
        numbers, element = torch.unique(z, return_inverse=True)
        weights = self.linear(numbers).view(-1, self.n_invariants, self.n_targets)  # [E, F, T]
        per_element = torch.einsum("nf,eft->net", features, weights)  # [N, E, T]
        pick = element.view(-1, 1, 1).expand(-1, 1, self.n_targets)
        atom = per_element.gather(1, pick).squeeze(1) + self.bias(z)
        if self.mlp is not None:
            atom = atom + self.mlp(features)
        return global_pool(atom, batch, self.pool)
