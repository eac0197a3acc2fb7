"""Dense weighted adjacency of periodic crystals, straight from positions and cells.

For prediction on many same-size cells, building an edge list per structure (and then
summing it into a dense matrix) costs more than the model itself. Because the dense
path only needs A[i, j] = Σ_S w(|r_j + S·cell − r_i|) over every periodic image S with
distance ≤ cutoff (self-images of i included, the atom itself excluded), this module
evaluates that sum for a whole batch at once: the pair differences are wrapped to the
nearest image in fractional coordinates, and only the pairs whose fractional
difference lets another image fall within the cutoff are examined for the other shifts. The result equals the adjacency built from the
neighbour-list graph of :func:`thermognn.graphs.build_graph` (a test checks it).
"""

from __future__ import annotations

import itertools
import math
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


def periodic_distance_sums(positions: Tensor, cells: Tensor, cutoff: float) -> tuple[Tensor, Tensor]:
    """Sum and number of the image distances within ``cutoff`` of every atom pair.

    Parameters
    ----------
    positions
        Cartesian positions ``[B, n, 3]`` (Å), float64 recommended.
    cells
        Cell vectors as rows ``[B, 3, 3]`` (Å), periodic in all three directions.
    cutoff
        Pairs with distance ≤ cutoff (Å) count.

    Returns
    -------
    (Tensor, Tensor)
        ``[B, n, n]`` each: Σ d and the number of images of atom j within the cutoff
        of atom i (the atom itself excluded, its own images included); symmetric.
        An affine edge weight a·d + b then sums to a·Σd + b·count.
    """
    batch, n, _ = positions.shape
    diff = positions.unsqueeze(1) - positions.unsqueeze(2)  # [B, i, j, 3] = r_j − r_i
    inverse = torch.linalg.inv(cells)
    frac = torch.einsum("bijc,bck->bijk", diff, inverse)
    frac = frac - torch.round(frac)
    wrapped = torch.einsum("bijk,bkc->bijc", frac, cells)
    distance = wrapped.norm(dim=-1)
    near = (distance <= cutoff) & ~torch.eye(n, dtype=torch.bool, device=positions.device)
    sums = torch.where(near, distance, distance.new_zeros(()))
    counts = near.to(distance.dtype)
    reach = cutoff * inverse.norm(dim=-2)  # cutoff / plane spacing, per direction [B, 3]
    ranges = [range(-m, m + 1) for m in image_range(cells, cutoff)]
    # Necessary condition per direction: |f_k + S_k| ≤ cutoff / w_k.
    fits = {
        (k, s): (frac[..., k] + s).abs() <= reach[:, k, None, None]
        for k in range(3)
        for s in ranges[k]
        if s
    }
    flat_sums, flat_counts = sums.view(-1), counts.view(-1)
    for shift in itertools.product(*ranges):
        if not any(shift):
            continue
        masks = [fits[k, s] for k, s in enumerate(shift) if s]
        candidates = masks[0] if len(masks) == 1 else torch.stack(masks).all(dim=0)
        b, i, j = candidates.nonzero(as_tuple=True)
        if len(b) == 0:
            continue
        offset = torch.tensor(shift, dtype=positions.dtype, device=positions.device) @ cells[b]
        d = (wrapped[b, i, j] + offset).norm(dim=-1)
        keep = d <= cutoff
        index = ((b * n + i) * n + j)[keep]
        flat_sums.index_add_(0, index, d[keep])
        flat_counts.index_add_(0, index, torch.ones_like(d[keep]))
    return sums, counts


def periodic_adjacency(
    positions: Tensor, cells: Tensor, cutoff: float, scale: float = 1.0, offset: float = 0.0
) -> Tensor:
    """Weighted adjacency ``[B, n, n]`` for the affine edge weight (d − offset) / scale.

    ``A[b, i, j]`` = Σ (d − offset) / scale over every image of atom j within the cutoff
    of atom i (see :func:`periodic_distance_sums`), in the dtype of ``positions``.
    """
    sums, counts = periodic_distance_sums(positions, cells, cutoff)
    return (sums - offset * counts) / scale
