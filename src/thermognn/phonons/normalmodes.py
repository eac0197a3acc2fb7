r"""Normal modes of a supercell at Γ, for correlated (``normal-mode``) sampling.

With mass-weighted normal coordinates Q_k ~ N(0, σ_k²), σ_k² = ħ(1 + 2n_k)/(2ω_k),
the displacement u_i = m_i^{-1/2} Σ_k e_{ik} Q_k has ⟨u²_{iα}⟩ equal to eq. 3 on the
mesh commensurate with the supercell: the normal-mode scheme and the phonon scheme have
the same per-atom variances; only the correlations differ. The same imaginary-mode
policy and frequency floor apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from thermognn.errors import ThermognnError
from thermognn.phonons.amplitudes import ModePolicy, mode_amplitude_weights

_VASP_TO_THZ = 15.633302  # sqrt(eV/Å²/amu) in THz (phonopy's VaspToTHz)


@dataclass
class NormalModes:
    """Γ-point normal modes of one supercell.

    Attributes
    ----------
    frequencies
        ν_k in THz, negative for imaginary modes, shape (3n,).
    eigenvectors
        Orthonormal mass-weighted eigenvectors as columns, shape (3n, 3n).
    masses
        Atomic masses in amu, shape (n,).
    """

    frequencies: np.ndarray
    eigenvectors: np.ndarray
    masses: np.ndarray

    def mode_std(self, temperature: float, policy: ModePolicy) -> np.ndarray:
        """σ_k in sqrt(amu)·Å per mode (0 for skipped modes)."""
        w = mode_amplitude_weights(
            self.frequencies[None, :], temperature, policy, np.array([True]), labels=["Γ(sc)"]
        )[0]
        return np.sqrt(w)

    def covariance(self, temperature: float, policy: ModePolicy) -> np.ndarray:
        """Displacement covariance ⟨u_a u_b⟩ in Å², shape (3n, 3n)."""
        s = self.mode_std(temperature, policy)
        minv = np.repeat(self.masses, 3) ** -0.5
        b = minv[:, None] * self.eigenvectors * s[None, :]
        return b @ b.T

    def sample(
        self, temperature: float, policy: ModePolicy, rng: np.random.Generator, n: int = 1
    ) -> np.ndarray:
        """``n`` correlated displacement fields, shape (n, n_atoms, 3), Å."""
        s = self.mode_std(temperature, policy)
        q = rng.standard_normal((n, len(s))) * s[None, :]
        minv = np.repeat(self.masses, 3) ** -0.5
        u = (q @ self.eigenvectors.T) * minv[None, :]
        return u.reshape(n, len(self.masses), 3)


def supercell_normal_modes(phonon, atoms: Atoms) -> NormalModes:
    """Normal modes at Γ of the supercell ``atoms`` from phonon's force constants.

    ``atoms`` must be a supercell of phonon's primitive cell whose periodicity matches
    phonon's force-constant supercell (so that each pair's force constant is the
    phonopy one); masses are taken from ``atoms`` (so a solid solution gets its own
    masses on the end member's force constants).
    """
    sc = phonon.supercell
    ratio = np.asarray(atoms.cell) @ np.linalg.inv(np.asarray(sc.cell))
    scale = np.cbrt(abs(np.linalg.det(ratio)))
    if len(atoms) != len(sc) or not np.allclose(ratio, scale * np.eye(3), atol=1e-3 * scale):
        raise ThermognnError(
            "normal-mode sampling needs the force-constant supercell "
            f"({len(sc)} atoms, cell {np.round(sc.cell.diagonal(), 3).tolist()} Å), "
            f"got {len(atoms)} atoms"
        )
    order = _match_atoms(np.asarray(sc.scaled_positions), atoms.get_scaled_positions(wrap=True))
    fc = _full_fc(phonon)[np.ix_(order, order)]  # (n, n, 3, 3) reordered onto atoms
    return normal_modes_from_fc(fc, atoms.get_masses())


def normal_modes_from_fc(force_constants: np.ndarray, masses: np.ndarray) -> NormalModes:
    """Γ-point normal modes of a supercell from its full force constants.

    Parameters
    ----------
    force_constants
        (n, n, 3, 3) in eV/Å² (phonopy layout), in the order of ``masses``.
    masses
        Atomic masses in amu, shape (n,).
    """
    n = len(masses)
    dyn = np.asarray(force_constants).transpose(0, 2, 1, 3).reshape(3 * n, 3 * n)
    minv = np.repeat(np.asarray(masses, dtype=float), 3) ** -0.5
    dyn = dyn * minv[:, None] * minv[None, :]
    dyn = 0.5 * (dyn + dyn.T)
    eigval, eigvec = np.linalg.eigh(dyn)
    freqs = np.sign(eigval) * np.sqrt(np.abs(eigval)) * _VASP_TO_THZ
    return NormalModes(
        frequencies=freqs, eigenvectors=eigvec, masses=np.asarray(masses, dtype=float)
    )


def _full_fc(phonon) -> np.ndarray:
    fc = np.asarray(phonon.force_constants)
    if fc.shape[0] == fc.shape[1]:
        return fc
    from phonopy.harmonic.force_constants import compact_fc_to_full_fc

    return compact_fc_to_full_fc(phonon.primitive, fc)


def _match_atoms(reference_frac: np.ndarray, target_frac: np.ndarray) -> np.ndarray:
    """For each target atom, the index of the reference atom at the same fractional site."""
    diff = target_frac[:, None, :] - reference_frac[None, :, :]
    diff -= np.round(diff)
    d = np.linalg.norm(diff, axis=-1)
    order = np.argmin(d, axis=1)
    if len(set(order.tolist())) != len(order) or d[np.arange(len(order)), order].max() > 1e-3:
        raise ThermognnError("supercell atoms do not match the force-constant supercell sites")
    return order
