"""Displacement fields of the sampling schemes (DESIGN.md §3), all zero-mean, all seeded.

=================  ==========================================================
``random``         u = ε·a, ε ~ U[-1, 1] per atom and direction (paper eq. 2)
``phonon``         u = ε·ζ_{jα}(T), ε ~ U[-1, 1] (paper eq. 3)
``phonon-gaussian`` u = ε·ζ_{jα}(T), ε ~ N(0, 1), so ⟨u²⟩ = ζ² exactly
``normal-mode``    correlated Gaussian sampling of the supercell normal modes
``md``             snapshots of a Langevin run at T
=================  ==========================================================
"""

from __future__ import annotations

import numpy as np

SCHEMES = ("random", "phonon", "phonon-gaussian", "normal-mode", "md")


def random_displacements(rng: np.random.Generator, n_atoms: int, amplitude: float) -> np.ndarray:
    """u = ε·a with ε ~ U[-1, 1]: variance a²/3 per component (Å)."""
    return rng.uniform(-1.0, 1.0, size=(n_atoms, 3)) * amplitude


def phonon_displacements(
    rng: np.random.Generator, zeta: np.ndarray, *, gaussian: bool = False
) -> np.ndarray:
    """u = ε·ζ with ε ~ U[-1, 1] (variance ζ²/3) or, if ``gaussian``, N(0, 1) (variance ζ²)."""
    eps = rng.standard_normal(zeta.shape) if gaussian else rng.uniform(-1.0, 1.0, zeta.shape)
    return eps * zeta


def virtual_crystal_amplitudes(
    symbols: list[str], zeta_br: np.ndarray, zeta_i: np.ndarray, br_fraction: float
) -> np.ndarray:
    """Amplitudes of a Ag3SBr_xI_(1-x) supercell from its end members' (site-mapped) ones.

    Halide sites take the amplitude of their own end member; Ag and S sites the
    Vegard-like mix of the variances, ζ² = x ζ²_Br + (1 − x) ζ²_I. (The force constants
    of every random occupation would need 240 displaced cells each; the paper does not
    say how its mixed cells were treated. Recorded as ``fc_source='vca:…'``.)
    """
    sym = np.asarray(symbols)
    mix = np.sqrt(br_fraction * zeta_br**2 + (1.0 - br_fraction) * zeta_i**2)
    return np.where((sym == "Br")[:, None], zeta_br, np.where((sym == "I")[:, None], zeta_i, mix))
