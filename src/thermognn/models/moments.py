"""A moment-invariant family: atom-centred density moments (l ≤ 2) under a learned head.

Each atom i gets a neighbour density expanded in radial functions R_n(d) (Gaussians on
[r_min, cutoff], damped by a cosine cutoff), neighbour-species channels s_k(Z_j) (a
learned embedding of the neighbour's atomic number) and real spherical harmonics
Y_lm(r̂) of the bond direction for l = 0, 1, 2::

    A_i[c, lm] = Σ_j R_n(d_ij) s_k(Z_j) Y_lm(r̂_ij),      c = (k, n)

Its rotation invariants are the l = 0 moments A_i[c, 0] and, for l = 1 and 2, the
power spectrum Σ_m A_i[c, lm] A_i[c', lm] for every channel pair c ≤ c' — the
three-body SOAP / ACE descriptor (Bartók et al., PRB 87, 184115, 2013; Drautz, PRB 99,
014104, 2019). The atom-wise head is linear in the standardised invariants with weights
chosen by the atom's own element, plus a small shared MLP for what is not linear; the
crystal prediction is the mean over atoms. Edges are periodic images within the graph
cutoff, self-images included; the model needs the edge vectors (``edge_vec``, Å,
r_j + S·cell − r_i), not only the distances.

Why this family: on the bundled Ag3SBr phonon cells the band gap and the valence band
maximum depend on bond directions, which distance-only convolutions (the paper family,
SchNet, CGCNN) cannot see, and a near-linear head on a complete three-body basis fits
a few hundred cells without the variance of a deep network.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from thermognn.models.layers import CrystalGNN, global_pool
from thermognn.models.registry import Scaling, register_family

#: Largest atomic number the embeddings hold.
MAX_Z = 100

#: Real spherical harmonics, orthonormal up to one factor per l (so Σ_m products are
#: rotation invariant): l = 1 → (x, y, z); l = 2 → the five below.
_SQRT3 = math.sqrt(3.0)


def harmonics(unit: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Real spherical harmonics of unit vectors ``[E, 3]`` for l = 0, 1, 2.

    Returns
    -------
    tuple of Tensor
        ``[E, 1]``, ``[E, 3]`` and ``[E, 5]``; within each l the components are an
        orthonormal basis times a common factor.
    """
    x, y, z = unit.unbind(-1)
    l2 = torch.stack(
        (x * y, y * z, x * z, 0.5 * (x * x - y * y), (3.0 * z * z - 1.0) / (2.0 * _SQRT3)), -1
    )
    return torch.ones_like(x).unsqueeze(-1), unit, l2


def edge_vectors(
    pos: Tensor, cell: Tensor, shift: Tensor, edge_index: Tensor, batch: Tensor
) -> Tensor:
    """Bond vectors r_j + S·cell − r_i ``[E, 3]`` (Å) of a (batched) crystal graph.

    Parameters
    ----------
    pos
        Positions ``[N, 3]`` (Å).
    cell
        Cell vectors as rows, one per graph ``[B, 3, 3]`` (Å).
    shift
        Integer image shift S of each edge's source ``[E, 3]``.
    edge_index
        ``[2, E]``, row 0 source j, row 1 target i.
    batch
        Graph of each node ``[N]``.
    """
    src, dst = edge_index
    offset = torch.bmm(shift.unsqueeze(1), cell[batch[src]]).squeeze(1)
    return pos[src] + offset - pos[dst]


@register_family(
    "moments",
    scaling=Scaling(node="identity", edge="identity", target="standard"),
    description="atom-centred density moments (l ≤ 2 power spectrum) under a learned head",
    search_space={
        "lr": {"low": 3e-4, "high": 1e-2, "log": True},
        "weight_decay": [0.0, 1e-5, 1e-4],
        "hidden": [0, 32, 64],
        "n_rbf": [4, 6, 8],
        "n_species": [3, 4, 6],
        "dropout": [0.0, 0.1],
    },
)
class MomentInvariants(CrystalGNN):
    """Power-spectrum invariants of the neighbour density, element-wise linear head + MLP.

    Parameters
    ----------
    in_channels
        Node feature columns (column 0 must be the atomic number, unscaled).
    hidden
        Width of the shared nonlinear atom-wise MLP (0: the head is purely linear).
    n_rbf
        Radial Gaussians on [r_min, cutoff].
    n_species
        Channels of the learned neighbour-species embedding.
    r_min
        First Gaussian centre, Å (no bond is shorter in practice).
    cutoff
        Outer radius of the basis and the cosine envelope, Å (the trainer sets it to
        the graph cutoff).
    pool
        Pooling of the atom-wise outputs: ``mean`` (intensive labels) or ``add``.

    ``dropout`` (in the MLP) and ``n_targets`` as in
    :class:`~thermognn.models.layers.CrystalGNN`.
    """

    title = "moments"
    #: The sparse batch source passes ``edge_vec`` (Å) to this family.
    needs_vectors = True

    def __init__(
        self,
        in_channels: int = 4,
        hidden: int = 32,
        n_rbf: int = 6,
        n_species: int = 4,
        r_min: float = 2.0,
        cutoff: float = 5.5,
        pool: str = "mean",
        dropout: float = 0.0,
        n_targets: int = 1,
    ) -> None:
        super().__init__(pool)
        if in_channels < 1:
            raise ValueError("moments needs the atomic number as node feature column 0")
        if n_rbf < 2 or n_species < 1 or not 0 <= r_min < cutoff:
            raise ValueError(
                f"need n_rbf ≥ 2, n_species ≥ 1 and 0 ≤ r_min < cutoff, got {n_rbf}, "
                f"{n_species}, {r_min}, {cutoff}"
            )
        self.cutoff = float(cutoff)
        self.species = torch.nn.Embedding(MAX_Z + 1, n_species)
        centres = torch.linspace(float(r_min), self.cutoff, n_rbf)
        self.centres: Tensor
        self.register_buffer("centres", centres)
        self.width = float(centres[1] - centres[0])
        channels = n_species * n_rbf
        first, second = torch.triu_indices(channels, channels)
        self.pairs: Tensor  # flat positions of the pairs c ≤ c' in a C × C matrix
        self.register_buffer("pairs", first * channels + second, persistent=False)
        self.n_invariants = channels + 2 * self.pairs.shape[0]
        self.norm = torch.nn.BatchNorm1d(self.n_invariants, affine=False)
        self.linear = torch.nn.Embedding(MAX_Z + 1, self.n_invariants * n_targets)
        torch.nn.init.zeros_(self.linear.weight)
        self.bias = torch.nn.Embedding(MAX_Z + 1, n_targets)
        torch.nn.init.zeros_(self.bias.weight)
        self.n_targets = n_targets
        self.mlp: torch.nn.Module | None = None
        if hidden > 0:
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(self.n_invariants, hidden),
                torch.nn.SiLU(),
                torch.nn.Dropout(dropout),
                torch.nn.Linear(hidden, n_targets),
            )

    def invariants(self, z: Tensor, edge_index: Tensor, edge_vec: Tensor) -> Tensor:
        """Rotation-invariant atom descriptors ``[N, n_invariants]`` (unnormalised).

        The moments are first summed per neighbour element (a fixed function of the
        geometry, no gradient), then mixed into the learned species channels per atom:
        far fewer operations per edge than mixing edge by edge.
        """
        src, dst = edge_index
        elements, neighbour = torch.unique(z[src], return_inverse=True)
        n_atoms, n_elements = z.shape[0], elements.shape[0]
        with torch.no_grad():
            distance = edge_vec.norm(dim=-1).clamp_min(1e-9)
            envelope = 0.5 * (torch.cos(distance * (math.pi / self.cutoff)) + 1.0)
            envelope = envelope * (distance < self.cutoff).to(distance.dtype)
            radial = torch.exp(-0.5 * ((distance.unsqueeze(-1) - self.centres) / self.width) ** 2)
            radial = radial * envelope.unsqueeze(-1)  # [E, n_rbf]
            ylm = torch.cat(harmonics(edge_vec / distance.unsqueeze(-1)), dim=-1)  # [E, 9]
            per_edge = (radial.unsqueeze(-1) * ylm.unsqueeze(1)).flatten(1)  # [E, n_rbf·9]
            by_element = per_edge.new_zeros(n_atoms * n_elements, per_edge.shape[1])
            by_element.index_add_(0, dst * n_elements + neighbour, per_edge)
        by_element = by_element.view(n_atoms, n_elements, -1, 9)
        # [N, K, n_rbf, 9] → channels c = (k, n)
        moment = torch.einsum("tk,ntrm->nkrm", self.species(elements), by_element).flatten(1, 2)
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
            Bond vectors r_j + S·cell − r_i ``[E, 3]`` (Å), required.

        Returns
        -------
        Tensor
            Scaled predictions ``[B, n_targets]``.
        """
        if edge_vec is None:
            raise ValueError("moments needs the edge vectors (edge_vec, Å)")
        z = x[:, 0].round().long().clamp(0, MAX_Z)
        features = self.norm(self.invariants(z, edge_index, edge_vec.to(x.dtype)))
        weights = self.linear(z).view(-1, self.n_invariants, self.n_targets)
        atom = torch.einsum("nf,nft->nt", features, weights) + self.bias(z)
        if self.mlp is not None:
            atom = atom + self.mlp(features)
        return global_pool(atom, batch, self.pool)
