"""Dense weighted adjacency of periodic crystals, straight from positions and cells.

For prediction on many same-size cells, building an edge list per structure (and then
summing it into a dense matrix) costs more than the model itself. Because the dense
path only needs A[i, j] = Σ_S w(|r_j + S·cell − r_i|) over every periodic image S with
distance ≤ cutoff (self-images of i included, the atom itself excluded), this module
evaluates that sum for a whole batch at once: the pair differences are wrapped to the
nearest image in fractional coordinates, and only the pairs whose fractional
difference lets another image fall within the cutoff are examined for the other
shifts. The result equals the adjacency built from the neighbour-list graph of
:func:`thermognn.graphs.build_graph` (a test checks it), in float64 throughout.
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


def periodic_distance_sums(
    positions: Tensor, cells: Tensor, cutoff: float
) -> tuple[Tensor, Tensor]:
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
    # Pairs i ≤ j only: the image sums are symmetric (j → i with S mirrors i → j with −S).
    first, second = torch.triu_indices(n, n, device=positions.device)
    inverse = torch.linalg.inv(cells)
    fractional = torch.bmm(positions, inverse)  # [B, n, 3]
    frac = fractional[:, second] - fractional[:, first]  # [B, P, 3] of r_j − r_i
    frac.sub_(torch.round(frac))
    wrapped = torch.bmm(frac, cells)
    distance = wrapped.norm(dim=-1)  # nearest image, [B, P]
    near = (distance <= cutoff) & (first != second)
    sums = torch.where(near, distance, distance.new_zeros(()))
    counts = near.to(distance.dtype)
    reach = cutoff * inverse.norm(dim=-2)  # cutoff / plane spacing per direction, [B, 3]
    images = _nearest_images if bool((reach < 1.0).all()) else _all_images
    pair, image_distance, image_count = images(frac, wrapped, cells, reach, cutoff)
    sums.view(-1).index_add_(0, pair, image_distance)
    counts.view(-1).index_add_(0, pair, image_count)
    return _symmetric(sums, first, second, n), _symmetric(counts, first, second, n)


def _symmetric(values: Tensor, first: Tensor, second: Tensor, n: int) -> Tensor:
    """``[B, P]`` values of the pairs (first ≤ second) → symmetric ``[B, n, n]``."""
    out = values.new_zeros(values.shape[0], n, n)
    out[:, first, second] = values
    out[:, second, first] = values
    return out


def _nearest_images(
    frac: Tensor, wrapped: Tensor, cells: Tensor, reach: Tensor, cutoff: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Images S ≠ 0 within the cutoff when every plane spacing exceeds the cutoff.

    Then along each direction k only the shift towards the nearer face,
    S_k = −sign(f_k), can qualify, and only if |f_k| ≥ 1 − cutoff / w_k ("flagged");
    a pair's candidate images are the non-empty subsets of its flagged directions.

    Parameters
    ----------
    frac, wrapped
        Nearest-image pair differences ``[B, P, 3]``, fractional and Cartesian (Å).
    cells
        Cell vectors as rows ``[B, 3, 3]`` (Å).
    reach
        cutoff / plane spacing per direction ``[B, 3]``.
    cutoff
        Cutoff radius, Å.

    Returns
    -------
    (Tensor, Tensor, Tensor)
        Per candidate image: flat pair index b·P + p, its distance if within the
        cutoff (else 0) and 1 if within the cutoff (else 0).
    """
    n_pairs = frac.shape[1]
    flagged = (frac.abs() >= 1.0 - reach[:, None, :]).view(-1, 3)
    pair = flagged.any(dim=1).nonzero().squeeze(1)
    flags = flagged.index_select(0, pair)
    toward = -torch.sign(frac.reshape(-1, 3).index_select(0, pair))
    vector = wrapped.reshape(-1, 3).index_select(0, pair)
    structure = torch.div(pair, n_pairs, rounding_mode="floor")
    found: list[tuple[Tensor, Tensor, Tensor]] = []
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
    frac: Tensor, wrapped: Tensor, cells: Tensor, reach: Tensor, cutoff: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Images S ≠ 0 within the cutoff for any cell (small cells: many images).

    Every shift with |S_k| ≤ ⌊cutoff / w_k + ½⌋ is tried, on the pairs that satisfy the
    necessary condition |f_k + S_k| ≤ cutoff / w_k along each direction. Arguments
    and result as for :func:`_nearest_images`.
    """
    n_pairs = frac.shape[1]
    ranges = [range(-m, m + 1) for m in image_range(cells, cutoff)]
    found: list[tuple[Tensor, Tensor, Tensor]] = []
    for shift in itertools.product(*ranges):
        if not any(shift):
            continue
        fits = [(frac[..., k] + s).abs() <= reach[:, k, None] for k, s in enumerate(shift)]
        b, p = (fits[0] & fits[1] & fits[2]).nonzero(as_tuple=True)
        offset = torch.tensor(shift, dtype=frac.dtype, device=frac.device) @ cells[b]
        distance = (wrapped[b, p] + offset).norm(dim=-1)
        keep = (distance <= cutoff).to(distance.dtype)
        found.append((b * n_pairs + p, distance * keep, keep))
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


#: Largest Verlet skin (Å) worth a candidate list; beyond it every image is searched.
MAX_SKIN = 2.0


def periodic_edge_vectors(
    positions: Tensor, cells: Tensor, cutoff: float, max_skin: float = MAX_SKIN
) -> tuple[Tensor, Tensor, Tensor]:
    """Every periodic bond within ``cutoff`` of a batch of same-size cells, as vectors.

    The edges of :func:`thermognn.graphs.build_graph` (self-images of an atom included,
    the atom itself excluded) for all cells at once. Cells that share one lattice and
    differ only by displacements (thermal samples of one reference) go through a Verlet
    list (:func:`_verlet_edges`); other batches wrap the fractional pair differences to
    the nearest image and try every image shift that can fall within the cutoff
    (:func:`image_range`).

    Parameters
    ----------
    positions
        Cartesian positions ``[B, n, 3]`` (Å), float64 recommended.
    cells
        Cell vectors as rows ``[B, 3, 3]`` (Å).
    cutoff
        Bonds with length ≤ cutoff (Å).
    max_skin
        Largest Verlet skin (Å) for which the candidate list is used (0: never).

    Returns
    -------
    (Tensor, Tensor, Tensor)
        Source j and target i as node ids of the batch (b·n + atom), and the bond
        vectors r_j + S·cell − r_i ``[E, 3]`` (Å).
    """
    if bool((cells == cells[:1]).all()):
        found = _verlet_edges(positions, cells[0], cutoff, max_skin)
        if found is not None:
            return found
    return _searched_edges(positions, cells, cutoff)


def _verlet_edges(
    positions: Tensor, cell: Tensor, cutoff: float, max_skin: float
) -> tuple[Tensor, Tensor, Tensor] | None:
    """Bonds of cells sharing ``cell`` from one candidate list (``None``: skin too large).

    Each structure's atoms are moved by lattice vectors next to the batch's mean
    positions r̄ (a relabelling of images that leaves the set of bond vectors as it
    is). If no atom lies further than δ from r̄, every bond ≤ cutoff of any structure
    is a pair (i, j, S) with |r̄_j + S·cell − r̄_i| ≤ cutoff + 2δ, so the candidates come
    from r̄ alone and each structure only measures them (the Verlet list of molecular
    dynamics).
    """
    batch, n = positions.shape[:2]
    fractional = positions @ torch.linalg.inv(cell)
    step = fractional - fractional[:1]
    step.sub_(torch.round(step))
    aligned = (fractional[:1] + step) @ cell  # [B, n, 3], images next to structure 0
    mean = aligned.mean(dim=0, keepdim=True)
    skin = 2.0 * float((aligned - mean).norm(dim=-1).max()) + 1e-6
    if skin > max_skin:
        return None
    src, dst, vectors = _searched_edges(mean, cell[None], cutoff + skin)
    shifts = vectors - (mean[0].index_select(0, src) - mean[0].index_select(0, dst))  # S·cell
    # components first ([B, 3, K]): the gathers and the sum over x, y, z run contiguous
    columns = aligned.transpose(1, 2).contiguous()
    bonds = columns.index_select(2, src).sub_(columns.index_select(2, dst)).add_(shifts.T)
    squared = (bonds * bonds).sum(1)
    keep = ((squared <= cutoff * cutoff) & (squared > 1e-16)).view(-1).nonzero().squeeze(1)
    candidate = keep % src.shape[0]
    first = torch.div(keep, src.shape[0], rounding_mode="floor") * n
    kept = torch.stack([bonds[:, k].reshape(-1).index_select(0, keep) for k in range(3)], -1)
    return first + src.index_select(0, candidate), first + dst.index_select(0, candidate), kept


def _searched_edges(
    positions: Tensor, cells: Tensor, cutoff: float
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`periodic_edge_vectors` by trying every image shift (any batch of cells)."""
    batch, n = positions.shape[:2]
    inverse = torch.linalg.inv(cells)
    fractional = torch.bmm(positions, inverse)
    frac = fractional[:, None, :, :] - fractional[:, :, None, :]  # [B, i, j, 3]: f_j − f_i
    frac.sub_(torch.round(frac))
    wrapped = torch.einsum("bijc,bcd->bijd", frac, cells)
    reach = cutoff * inverse.norm(dim=-2)  # cutoff / plane spacing per direction, [B, 3]
    ranges = [range(-m, m + 1) for m in image_range(cells, cutoff)]
    # necessary for an image S: |f_k + S_k| ≤ cutoff / w_k along every direction k
    fits = [
        {s: ((frac[..., k] + s).abs() <= reach[:, k, None, None]).view(-1) for s in ranges[k]}
        for k in range(3)
    ]
    flat = wrapped.reshape(-1, 3)
    sources, targets, vectors = [], [], []
    for shift in itertools.product(*ranges):
        pair = (fits[0][shift[0]] & fits[1][shift[1]] & fits[2][shift[2]]).nonzero().squeeze(1)
        vector = flat.index_select(0, pair)
        b = torch.div(pair, n * n, rounding_mode="floor")
        if any(shift):
            offset = torch.tensor(shift, dtype=cells.dtype, device=cells.device) @ cells  # [B, 3]
            vector = vector + offset.index_select(0, b)
        squared = vector.square().sum(-1)
        keep = ((squared <= cutoff * cutoff) & (squared > 1e-16)).nonzero().squeeze(1)
        pair, b = pair.index_select(0, keep), b.index_select(0, keep)
        i, j = torch.div(pair % (n * n), n, rounding_mode="floor"), pair % n
        sources.append(b * n + j)
        targets.append(b * n + i)
        vectors.append(vector.index_select(0, keep))
    return torch.cat(sources), torch.cat(targets), torch.cat(vectors)
