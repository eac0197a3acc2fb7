"""Dense weighted adjacency of periodic crystals, straight from positions and cells.

For prediction on many same-size cells, building an edge list per structure (and then
summing it into a dense matrix) costs more than the model itself. Because the dense
path only needs A[i, j] = Σ_S w(|r_j + S·cell − r_i|) over every periodic image S with
distance ≤ cutoff (self-images of i included, the atom itself excluded), this module
evaluates that sum for a whole batch at once: the pair differences are wrapped to the
nearest image in fractional coordinates and the few image shifts that can fall within
the cutoff are added one at a time. The result equals the adjacency built from the
neighbour-list graph of :func:`thermognn.graphs.build_graph` (a test checks it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import Tensor


def image_range(cells: Tensor, cutoff: float) -> list[int]:
    """Largest image shift per cell direction that can lie within ``cutoff``.

    With a wrapped fractional difference |f_k| ≤ ½, an image S lies within the cutoff
    only if |f_k + S_k| · w_k ≤ cutoff, w_k the spacing of the lattice planes along
    direction k; so |S_k| ≤ ⌊cutoff / w_k + ½⌋.

    Parameters
    ----------
    cells
        Cell vectors as rows ``[B, 3, 3]`` (Å).
    cutoff
        Cutoff radius, Å.
    """
    reciprocal_norms = torch.linalg.inv(cells).norm(dim=-2)  # |b_k| = 1 / w_k
    widest = (cutoff * reciprocal_norms).max(dim=0).values
    return [int(math.floor(float(v) + 0.5 + 1e-9)) for v in widest]


def periodic_adjacency(
    positions: Tensor, cells: Tensor, cutoff: float, weight: Callable[[Tensor], Tensor]
) -> Tensor:
    """Weighted adjacency ``[B, n, n]`` of a batch of periodic cells with n atoms each.

    Parameters
    ----------
    positions
        Cartesian positions ``[B, n, 3]`` (Å), float64 recommended.
    cells
        Cell vectors as rows ``[B, 3, 3]`` (Å), periodic in all three directions.
    cutoff
        Pairs with distance ≤ cutoff (Å) are edges.
    weight
        Edge weight as a function of distance (Å), elementwise.

    Returns
    -------
    Tensor
        ``A[b, i, j]`` = Σ weight(d) over every image of atom j within the cutoff of
        atom i (symmetric), in the dtype of ``positions``.
    """
    batch, n, _ = positions.shape
    diff = positions.unsqueeze(1) - positions.unsqueeze(2)  # [B, i, j, 3] = r_j − r_i
    inverse = torch.linalg.inv(cells)
    frac = torch.einsum("bijc,bck->bijk", diff, inverse)
    wrapped = torch.einsum("bijk,bkc->bijc", frac - torch.round(frac), cells)
    self_pair = torch.eye(n, dtype=torch.bool, device=positions.device)
    adjacency = positions.new_zeros(batch, n, n)
    ranges = [range(-m, m + 1) for m in image_range(cells, cutoff)]
    for shift in itertools.product(*ranges):
        offset = torch.tensor(shift, dtype=positions.dtype, device=positions.device) @ cells
        distance = (wrapped + offset[:, None, None, :]).norm(dim=-1)
        keep = distance <= cutoff
        if not any(shift):
            keep &= ~self_pair
        adjacency += torch.where(keep, weight(distance), adjacency.new_zeros(()))
    return adjacency
