"""Choose the random scheme's amplitude range so its band gaps match the phonon set's.

The paper picked its random amplitudes so that the band-gap distributions of the two
sets were nearly identical (its SI Fig. 10), which makes the phonon-vs-random comparison
fair. Here: label a few configurations at each amplitude of a grid, then choose the
contiguous range [a_i, a_j] of the grid whose pooled gaps (a mixture, as a ~ U[a_i, a_j]
gives) are closest to the phonon set's gaps in the two-sample Kolmogorov–Smirnov
distance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from thermognn.labels import Labeler
from thermognn.sampling.displacements import random_displacements


@dataclass
class AmplitudeCalibration:
    """Result of :func:`calibrate_amplitude_range`.

    Attributes
    ----------
    amplitudes
        The grid (Å).
    gaps
        Gaps (eV) per grid amplitude, shape (n_amplitudes, n_per_amplitude); NaN for
        failed labels.
    target
        The phonon set's gaps (eV).
    best
        Chosen (a_min, a_max) in Å.
    ks
        KS distance of the chosen range.
    """

    amplitudes: np.ndarray
    gaps: np.ndarray
    target: np.ndarray
    best: tuple[float, float]
    ks: float

    def as_dict(self) -> dict[str, object]:
        return {
            "amplitudes": self.amplitudes.tolist(),
            "gaps": self.gaps.tolist(),
            "target_mean": float(np.mean(self.target)),
            "target_std": float(np.std(self.target)),
            "best": list(self.best),
            "ks": self.ks,
        }


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov statistic."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def best_range(
    amplitudes: np.ndarray, gaps: np.ndarray, target: np.ndarray
) -> tuple[tuple[float, float], float]:
    """Contiguous grid range whose pooled gaps minimise the KS distance to ``target``."""
    best, best_ks = (float(amplitudes[0]), float(amplitudes[0])), np.inf
    for i in range(len(amplitudes)):
        for j in range(i, len(amplitudes)):
            pooled = gaps[i : j + 1].ravel()
            pooled = pooled[np.isfinite(pooled)]
            if pooled.size == 0:
                continue
            ks = ks_distance(pooled, target)
            if ks < best_ks - 1e-12:
                best, best_ks = (float(amplitudes[i]), float(amplitudes[j])), ks
    return best, float(best_ks)


def calibrate_amplitude_range(
    reference: Atoms,
    labeler: Labeler,
    target_gaps: Sequence[float],
    *,
    amplitudes: Sequence[float] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4),
    per_amplitude: int = 6,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> AmplitudeCalibration:
    """Label ``per_amplitude`` random configurations per grid amplitude; pick a range."""
    amps = np.asarray(amplitudes, dtype=float)
    gaps = np.full((len(amps), per_amplitude), np.nan)
    total = gaps.size
    for i, a in enumerate(amps):
        for k in range(per_amplitude):
            rng = np.random.default_rng([seed, i, k])
            atoms = reference.copy()
            atoms.positions += random_displacements(rng, len(atoms), float(a))
            try:
                gaps[i, k] = labeler.label(atoms).band_gap
            except Exception:  # noqa: BLE001 - a failed SCF is just a missing point
                pass
            if progress:
                progress(i * per_amplitude + k + 1, total)
    target = np.asarray(target_gaps, dtype=float)
    best, ks = best_range(amps, gaps, target)
    return AmplitudeCalibration(amps, gaps, target, best, ks)
