"""Which unlabeled candidates to label next: acquisition strategies of active learning.

Every strategy picks ``k`` candidates of a pool from the ensemble's predicted spread σ
(one value per candidate) and a descriptor of each structure:

* ``random`` — ``k`` candidates drawn uniformly (the baseline);
* ``uncertainty`` — the ``k`` largest σ;
* ``diverse`` — uncertain *and* diverse: a shortlist of the ``shortlist × k`` largest σ,
  then greedy picks of the largest σ·d, where d is the descriptor distance to the
  nearest labeled or already picked structure (so one batch does not spend its labels
  on near-copies of one uncertain configuration);
* ``coverage`` — the same greedy farthest-point picks with σ ignored (a model-free
  space-filling baseline);
* ``design`` — greedy V-optimal experimental design, model-free (σ ignored): under
  Bayesian linear regression on the descriptors (with a weakly penalised intercept),
  each pick is the candidate whose label would most reduce the summed posterior
  predictive variance over the candidates (:func:`v_optimal`). On the Ag3SBr band gap
  it beat random choice at 50 labels (``benchmarks/probe_design.py``).

The descriptor (:func:`structure_descriptors`) is a Gaussian-smeared radial distribution
per element pair, standardised over the pool: invariant to permutations, translations
and periodic images, and the same for every model family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from thermognn.errors import ThermognnError

Strategy = Literal["random", "uncertainty", "diverse", "coverage", "design"]
STRATEGIES: tuple[str, ...] = ("random", "uncertainty", "diverse", "coverage", "design")

#: Radial grid of the descriptor (Å) and its Gaussian width (Å).
RDF_GRID = np.arange(1.5, 5.75, 0.25)
RDF_WIDTH = 0.15
#: ``design``: prior variance of the intercept, against 1/d per descriptor column.
DESIGN_INTERCEPT = 100.0


def structure_descriptors(
    graphs: Sequence[Any], species: Sequence[int] | None = None
) -> np.ndarray:
    """Radial distribution per element pair of each crystal graph, ``[n, n_pairs · n_grid]``.

    Parameters
    ----------
    graphs
        Crystal graphs (:func:`thermognn.build_graph` layout: ``z``, ``edge_index``,
        ``edge_attr`` distances in Å).
    species
        Atomic numbers spanning the pairs (default: every element of ``graphs``).

    Returns
    -------
    numpy.ndarray
        Edge counts per atom, smeared on :data:`RDF_GRID`, one block per element pair.
    """
    if species is None:
        species = sorted({int(z) for g in graphs for z in g.z.tolist()})
    index = {z: k for k, z in enumerate(species)}
    n_s = len(species)
    out = np.zeros((len(graphs), n_s * n_s, len(RDF_GRID)))
    for row, g in enumerate(graphs):
        z = g.z.numpy()
        src, dst = g.edge_index.numpy()
        d = g.edge_attr.numpy().reshape(-1).astype(float)
        a = np.array([index[int(v)] for v in z[src]])
        b = np.array([index[int(v)] for v in z[dst]])
        pair = np.minimum(a, b) * n_s + np.maximum(a, b)
        smear = np.exp(-0.5 * ((d[:, None] - RDF_GRID[None, :]) / RDF_WIDTH) ** 2)
        np.add.at(out[row], pair, smear)
        out[row] /= max(len(z), 1)
    keep = [p for p in range(n_s * n_s) if p // n_s <= p % n_s]  # unordered pairs only
    return out[:, keep, :].reshape(len(graphs), -1)


def standardise(descriptors: np.ndarray) -> np.ndarray:
    """Columns to zero mean and unit variance (constant columns, to rounding, set to 0)."""
    mean = descriptors.mean(axis=0)
    std = descriptors.std(axis=0)
    tol = 1e-9 * max(float(np.abs(descriptors).max(initial=0.0)), 1e-300)
    return np.where(std > tol, (descriptors - mean) / np.where(std > tol, std, 1.0), 0.0)


@dataclass
class Acquisition:
    """The candidates picked by one acquisition step.

    Attributes
    ----------
    picked
        Positions into the candidate arrays, in the order picked.
    spread
        The (calibrated) predicted spread σ of each picked candidate (label unit).
    distance
        Descriptor distance to the nearest labeled or earlier-picked structure at the
        moment of picking (NaN for ``random``, ``uncertainty`` and ``design``).
    score
        The acquisition score that ranked it (σ, σ·d, d, the drop of the summed
        posterior variance for ``design``, or NaN for ``random``).
    """

    picked: np.ndarray
    spread: np.ndarray
    distance: np.ndarray
    score: np.ndarray


def _nearest(candidates: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Distance of each candidate row to its nearest reference row (inf: none)."""
    if len(reference) == 0:
        return np.full(len(candidates), np.inf)
    d2 = (
        (candidates**2).sum(1)[:, None]
        - 2.0 * candidates @ reference.T
        + (reference**2).sum(1)[None, :]
    )
    return np.sqrt(np.maximum(d2.min(axis=1), 0.0))


def _greedy(
    weight: np.ndarray, candidates: np.ndarray, labeled: np.ndarray, k: int
) -> tuple[list[int], list[float], list[float]]:
    """Greedy picks of the largest weight · distance-to-nearest (farthest point)."""
    nearest = _nearest(candidates, labeled)
    if not np.isfinite(nearest).any():  # nothing labeled: start from the largest weight
        nearest = np.ones(len(candidates))
    picked: list[int] = []
    distances: list[float] = []
    scores: list[float] = []
    for _ in range(min(k, len(candidates))):
        score = weight * nearest
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        distances.append(float(nearest[best]))
        scores.append(float(score[best]))
        nearest = np.minimum(nearest, _nearest(candidates, candidates[best : best + 1]))
    return picked, distances, scores


def design_features(descriptors: np.ndarray, intercept: float = DESIGN_INTERCEPT) -> np.ndarray:
    """Descriptors ``[n, d]`` scaled by 1/√d with a constant column √intercept appended.

    Under an identity prior on the weights this is the linear kernel
    K = X Xᵀ / d + intercept of :func:`v_optimal`.
    """
    x = np.asarray(descriptors, dtype=float)
    scale = 1.0 / np.sqrt(max(x.shape[1], 1))
    return np.hstack([x * scale, np.full((len(x), 1), np.sqrt(intercept))])


def v_optimal(
    candidates: np.ndarray,
    labeled: np.ndarray,
    k: int,
    *,
    noise: float = 1.0,
    targets: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy V-optimal design: ``k`` candidates that most reduce the posterior variance.

    Bayesian linear regression y = z·w + ε with prior w ~ N(0, I) and noise
    ε ~ N(0, ``noise``) on feature rows z (e.g. :func:`design_features`). Given the
    labeled rows, each pick is the candidate c with the largest drop of the summed
    (weighted) posterior variance of the targets, Σ_t w_t Σ[t, c]² / (Σ[c, c] + noise);
    the posterior is updated by rank one and the next pick follows. Labels are never
    used: the design depends on the inputs only. O(p³ + n p²) set-up and O(n p) per
    pick for ``n`` candidates of ``p`` features.

    Parameters
    ----------
    candidates, labeled
        Feature rows ``[n, p]`` and ``[m, p]`` (``m`` may be 0).
    k
        Picks (fewer when there are fewer candidates).
    noise
        Label-noise variance relative to the unit prior of the weights (> 0).
    targets
        Rows whose predictive variance counts (default: the candidates).
    weights
        Non-negative weight of each target (default 1).

    Returns
    -------
    tuple of numpy.ndarray
        Positions of the picks into ``candidates`` in order, and the variance drop each
        pick achieved when it was chosen.
    """
    if noise <= 0:
        raise ThermognnError(f"acquisition design: noise must be > 0 (got {noise})")
    zc = np.asarray(candidates, dtype=float)
    zl = np.asarray(labeled, dtype=float).reshape(-1, zc.shape[1])
    zt = zc if targets is None else np.asarray(targets, dtype=float)
    w = np.ones(len(zt)) if weights is None else np.asarray(weights, dtype=float)
    p = zc.shape[1]
    # posterior covariance of the weights: A = noise · (noise I + Zlᵀ Zl)⁻¹
    cov = noise * np.linalg.inv(noise * np.eye(p) + zl.T @ zl)
    gram = (zt * w[:, None]).T @ zt
    v = zc @ cov  # row c: A z_c, so Σ[c, c'] = v_c · z_c'
    var = np.einsum("ij,ij->i", v, zc)
    drop = np.einsum("ij,ij->i", v @ gram, v)  # z_cᵀ A G A z_c = Σ_t w_t Σ[t, c]²
    picked: list[int] = []
    gains: list[float] = []
    for _ in range(min(int(k), len(zc))):
        score = drop / (var + noise)
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        gains.append(float(score[best]))
        col, s = v[best].copy(), var[best] + noise
        cov_c = zc @ col  # Σ[:, best] over the candidates
        q = v @ (gram @ col)
        drop = drop - 2.0 * cov_c * q / s + cov_c**2 * float(col @ gram @ col) / s**2
        var = var - cov_c**2 / s
        v = v - np.outer(cov_c, col) / s
    return np.asarray(picked, dtype=int), np.asarray(gains)


def acquire(
    strategy: str,
    k: int,
    spread: np.ndarray,
    candidates: np.ndarray | None = None,
    labeled: np.ndarray | None = None,
    *,
    rng: np.random.Generator,
    shortlist: float = 4.0,
    noise: float = 1.0,
    target_labeled: bool = False,
) -> Acquisition:
    """Pick ``k`` of the candidates.

    Parameters
    ----------
    strategy
        ``random``, ``uncertainty``, ``diverse``, ``coverage`` or ``design``.
    k
        Candidates to pick (fewer when the pool is smaller).
    spread
        Predicted spread σ of each candidate ``[n]`` (ignored by ``random``,
        ``coverage`` and ``design``).
    candidates, labeled
        Descriptors ``[n, d]`` of the candidates and ``[m, d]`` of the labeled
        structures, on one (standardised) scale (needed by ``diverse``, ``coverage``
        and ``design``).
    rng
        Random generator (``random``; ties are not random).
    shortlist
        ``diverse``: choose among the ``shortlist · k`` largest spreads.
    noise
        ``design``: label-noise variance against the prior (:func:`v_optimal`).
    target_labeled
        ``design``: count the labeled structures' variance too, not only the
        candidates'.
    """
    spread = np.asarray(spread, dtype=float)
    n = len(spread)
    k = min(int(k), n)
    nan = np.full(k, np.nan)
    if strategy == "random":
        picked = rng.choice(n, size=k, replace=False)
        return Acquisition(picked, spread[picked], nan, nan)
    if strategy == "uncertainty":
        picked = np.argsort(-spread, kind="stable")[:k]
        return Acquisition(picked, spread[picked], nan, spread[picked])
    if strategy not in ("diverse", "coverage", "design"):
        raise ThermognnError(f"acquisition {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if candidates is None or labeled is None:
        raise ThermognnError(f"acquisition {strategy}: needs descriptors of the structures")
    if strategy == "design":
        zc, zl = design_features(candidates), design_features(labeled)
        zt = np.vstack([zc, zl]) if target_labeled else None
        picked, gains = v_optimal(zc, zl, k, noise=noise, targets=zt)
        return Acquisition(picked, spread[picked], nan, gains)
    if strategy == "coverage":
        pool = np.arange(n)
        weight = np.ones(n)
    else:
        pool = np.argsort(-spread, kind="stable")[: max(k, int(np.ceil(shortlist * k)))]
        weight = spread[pool]
    chosen, distances, scores = _greedy(weight, candidates[pool], labeled, k)
    picked = pool[chosen]
    return Acquisition(picked, spread[picked], np.asarray(distances), np.asarray(scores))
