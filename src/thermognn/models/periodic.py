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
    batch, n = positions.shape[:2]
    inverse = torch.linalg.inv(cells)
    fractional = torch.bmm(positions, inverse)  # [B, n, 3]
    frac = fractional.unsqueeze(1) - fractional.unsqueeze(2)  # [B, i, j, 3] of r_j − r_i
    frac.sub_(torch.round(frac))
    wrapped = torch.bmm(frac.view(batch, n * n, 3), cells).view(batch, n, n, 3)
    distance = wrapped.norm(dim=-1)
    near = (distance <= cutoff) & ~torch.eye(n, dtype=torch.bool, device=positions.device)
    sums = torch.where(near, distance, distance.new_zeros(()))
    counts = near.to(distance.dtype)
    reach = cutoff * inverse.norm(dim=-2)  # cutoff / plane spacing per direction, [B, 3]
    # Images S ≠ 0 of pairs i ≤ j only; j → i with S mirrors i → j with −S.
    upper = torch.ones(n, n, dtype=torch.bool, device=positions.device).triu()
    images = _nearest_images if bool((reach < 1.0).all()) else _all_images
    pair, image_distance, image_count = images(frac, wrapped, cells, reach, cutoff, upper)
    for total, value in ((sums, image_distance), (counts, image_count)):
        half = torch.zeros_like(total).view(-1).index_add_(0, pair, value).view_as(total)
        total += half + half.transpose(1, 2) - torch.diag_embed(half.diagonal(dim1=1, dim2=2))
    return sums, counts


def _nearest_images(
    frac: Tensor, wrapped: Tensor, cells: Tensor, reach: Tensor, cutoff: float, pairs: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Images S ≠ 0 within the cutoff when every plane spacing exceeds the cutoff.

    Then along each direction k only the shift towards the nearer face,
    S_k = −sign(f_k), can qualify, and only if |f_k| ≥ 1 − cutoff / w_k ("flagged");
    a pair's candidate images are the non-empty subsets of its flagged directions.

    Only pairs where ``pairs[i, j]`` is True are examined.

    Returns
    -------
    (Tensor, Tensor, Tensor)
        Per candidate image: flat pair index (b·n + i)·n + j, its distance if within
        the cutoff (else 0) and 1 if within the cutoff (else 0).
    """
    n = frac.shape[1]
    flagged = (frac.abs() >= 1.0 - reach[:, None, None, :]).view(-1, 3)
    considered = (flagged.view(*frac.shape).any(dim=-1) & pairs).view(-1)
    pair = considered.nonzero().squeeze(1)  # flat (b·n + i)·n + j
    flags = flagged.index_select(0, pair)
    toward = -torch.sign(frac.reshape(-1, 3).index_select(0, pair))
    vector = wrapped.reshape(-1, 3).index_select(0, pair)
    structure = torch.div(pair, n * n, rounding_mode="floor")
    found: list[tuple[Tensor, Tensor]] = []
    for size in (1, 2, 3):
        for subset in itertools.combinations(range(3), size):
            rows = flags[:, subset].all(dim=1).nonzero().squeeze(1)
            image = vector.index_select(0, rows)
            shift, owner = toward.index_select(0, rows), structure.index_select(0, rows)
            for k in subset:
                image = image + shift[:, k, None] * cells[:, k].index_select(0, owner)
            distance = image.norm(dim=-1)
            keep = (distance <= cutoff).to(distance.dtype)
            found.append((pair.index_select(0, rows), distance * keep, keep))
    return tuple(torch.cat(parts) for parts in zip(*found, strict=True))  # type: ignore[return-value]


def _all_images(
    frac: Tensor, wrapped: Tensor, cells: Tensor, reach: Tensor, cutoff: float, pairs: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Images S ≠ 0 within the cutoff for any cell (small cells: many images).

    Every shift with |S_k| ≤ ⌊cutoff / w_k + ½⌋ is tried, on the pairs that satisfy the
    necessary condition |f_k + S_k| ≤ cutoff / w_k along each direction, among the
    pairs where ``pairs[i, j]`` is True.

    Returns
    -------
    (Tensor, Tensor, Tensor)
        Per candidate image: flat pair index (b·n + i)·n + j, its distance if within
        the cutoff (else 0) and 1 if within the cutoff (else 0).
    """
    n = frac.shape[1]
    ranges = [range(-m, m + 1) for m in image_range(cells, cutoff)]
    found: list[tuple[Tensor, Tensor]] = []
    for shift in itertools.product(*ranges):
        if not any(shift):
            continue
        fits = [(frac[..., k] + s).abs() <= reach[:, k, None, None] for k, s in enumerate(shift)]
        b, i, j = (fits[0] & fits[1] & fits[2] & pairs).nonzero(as_tuple=True)
        offset = torch.tensor(shift, dtype=frac.dtype, device=frac.device) @ cells[b]
        distance = (wrapped[b, i, j] + offset).norm(dim=-1)
        keep = (distance <= cutoff).to(distance.dtype)
        found.append(((b * n + i) * n + j, distance * keep, keep))
    return tuple(torch.cat(parts) for parts in zip(*found, strict=True))  # type: ignore[return-value]


def periodic_adjacency(
    positions: Tensor, cells: Tensor, cutoff: float, scale: float = 1.0, offset: float = 0.0
) -> Tensor:
    """Weighted adjacency ``[B, n, n]`` for the affine edge weight (d − offset) / scale.

    ``A[b, i, j]`` = Σ (d − offset) / scale over every image of atom j within the cutoff
    of atom i (see :func:`periodic_distance_sums`), in the dtype of ``positions``.
    """
    sums, counts = periodic_distance_sums(positions, cells, cutoff)
    return (sums - offset * counts) / scale
