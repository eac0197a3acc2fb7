r"""Thermal displacement amplitudes, paper eq. 3, with explicit imaginary-mode policy.

.. math::

    \zeta^2_{j\alpha}(T) = \frac{\hbar}{2 N m_j} \sum_{q\nu}
        \frac{1 + 2 n_\nu(q, T)}{\omega_\nu(q)} |e^\alpha_\nu(j, q)|^2

N is the number of q-points of the mesh. Every mode enters with
max(|ω|, ω_floor) (DESIGN.md §2); the three acoustic translations at Γ (|ν| < 0.01 THz)
are skipped; imaginary modes follow ``ModePolicy.imaginary``: ``abs`` (use |ω|, warn
and name them), ``drop`` (skip them, as phonopy's thermal displacements do) or
``error``. Frequencies are phonopy's ν in THz (ω = 2πν); amplitudes are in Å.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from thermognn.errors import ThermognnError

log = logging.getLogger(__name__)

IMAGINARY_POLICIES = ("abs", "drop", "error")

_HBAR = 1.054571817e-34  # J s
_KB = 1.380649e-23  # J/K
_AMU = 1.66053906660e-27  # kg
_THZ = 2.0 * np.pi * 1e12  # rad/s per THz


@dataclass(frozen=True)
class ModePolicy:
    """How soft, imaginary and acoustic modes enter the amplitudes.

    Attributes
    ----------
    imaginary
        ``abs`` (default), ``drop`` or ``error``.
    frequency_floor
        ω_floor in THz (default 0.5): every kept mode enters with max(|ν|, floor).
    acoustic_tolerance
        Modes at Γ with |ν| below this (THz) are the acoustic translations: skipped.
    """

    imaginary: str = "abs"
    frequency_floor: float = 0.5
    acoustic_tolerance: float = 0.01

    def __post_init__(self) -> None:
        if self.imaginary not in IMAGINARY_POLICIES:
            raise ThermognnError(
                f"imaginary-mode policy {self.imaginary!r} unknown; choose {IMAGINARY_POLICIES}"
            )
        if self.frequency_floor < 0:
            raise ThermognnError(f"frequency floor must be ≥ 0 THz, got {self.frequency_floor}")

    def record(self) -> dict[str, Any]:
        """Key-value pairs stored with every sampled row."""
        return {"imaginary_policy": self.imaginary, "frequency_floor": self.frequency_floor}


def bose_einstein(omega: np.ndarray, temperature: float) -> np.ndarray:
    """Occupation n(ω, T) for angular frequencies ω (rad/s); zero at T = 0."""
    if temperature < 0:
        raise ThermognnError(f"temperature must be ≥ 0 K, got {temperature}")
    if temperature == 0:
        return np.zeros_like(omega)
    x = _HBAR * omega / (_KB * temperature)
    return 1.0 / np.expm1(np.minimum(x, 700.0))


def mode_amplitude_weights(
    frequencies: np.ndarray,
    temperature: float,
    policy: ModePolicy,
    is_gamma: np.ndarray,
    *,
    labels: list[str] | None = None,
    warn: bool = True,
) -> np.ndarray:
    r"""ħ(1 + 2n)/(2ω) per mode in amu·Å², zero for skipped modes.

    Parameters
    ----------
    frequencies
        Mode frequencies ν (THz), negative for imaginary modes, shape (n_q, n_modes).
    temperature
        K.
    policy
        Imaginary-mode policy and frequency floor.
    is_gamma
        Boolean (n_q,) marking the Γ point (its acoustic modes are skipped).
    labels
        Names of the q-points, used in warnings.
    warn
        Log imaginary modes as a warning (else at debug level, for repeated calls).
    """
    freqs = np.atleast_2d(np.asarray(frequencies, dtype=float))
    skip = np.zeros(freqs.shape, dtype=bool)
    skip[np.asarray(is_gamma, dtype=bool)] |= (
        np.abs(freqs[np.asarray(is_gamma, dtype=bool)]) < policy.acoustic_tolerance
    )
    imaginary = (freqs < 0) & ~skip
    if imaginary.any():
        where = [
            f"{(labels[q] if labels else q)}:{freqs[q, b]:.2f}"
            for q, b in zip(*np.nonzero(imaginary))
        ]
        shown = ", ".join(where[:8]) + (" …" if len(where) > 8 else "")
        msg = f"{imaginary.sum()} imaginary modes (THz) {shown}"
        if policy.imaginary == "error":
            raise ThermognnError(f"{msg}; policy 'error' (use 'abs' or 'drop')")
        level = logging.WARNING if warn else logging.DEBUG
        if policy.imaginary == "drop":
            log.log(level, "%s dropped", msg)
            skip |= imaginary
        else:
            log.log(level, "%s used as |ω|", msg)
    nu = np.maximum(np.abs(freqs), policy.frequency_floor)
    nu = np.where(skip | (nu <= 0), np.inf, nu)  # skipped / zero modes contribute nothing
    omega = nu * _THZ
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.where(
            np.isfinite(omega),
            bose_einstein(np.where(np.isfinite(omega), omega, 1.0), temperature),
            0.0,
        )
        weights = _HBAR * (1.0 + 2.0 * n) / (2.0 * omega) / _AMU * 1e20
    return np.where(np.isfinite(omega), weights, 0.0)


def commensurate_qpoints(phonon) -> np.ndarray:
    """q-points (primitive reciprocal basis) commensurate with phonon's supercell."""
    from phonopy.harmonic.dynmat_to_fc import get_commensurate_points

    slat = np.asarray(phonon.supercell.cell)
    plat = np.asarray(phonon.primitive.cell)
    smat = np.rint(slat @ np.linalg.inv(plat)).T.astype(int)
    return get_commensurate_points(smat)


def _modes(phonon, mesh: tuple[int, int, int] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q-points, frequencies (nq, nb) in THz, eigenvectors (nq, 3n, nb))."""
    if mesh is None:
        qpoints = commensurate_qpoints(phonon)
        phonon.run_qpoints(qpoints, with_eigenvectors=True)
        d = phonon.get_qpoints_dict()
    else:
        phonon.run_mesh(mesh, with_eigenvectors=True, is_mesh_symmetry=False, is_gamma_center=True)
        d = phonon.get_mesh_dict()
        qpoints = d["qpoints"]
    return np.asarray(qpoints), np.asarray(d["frequencies"]), np.asarray(d["eigenvectors"])


def thermal_amplitudes(
    phonon,
    temperature: float,
    *,
    mesh: tuple[int, int, int] | None = None,
    policy: ModePolicy | None = None,
    warn: bool = True,
) -> np.ndarray:
    """ζ_{j,α}(T) of paper eq. 3 for each atom j of phonopy's primitive cell (Å).

    Parameters
    ----------
    phonon
        A ``phonopy.Phonopy`` object with force constants.
    temperature
        K (≥ 0).
    mesh
        Γ-centred q-mesh; default: the q-points commensurate with phonon's supercell
        (for a 2×2×2 supercell of a primitive cubic cell, the 2×2×2 mesh).
    policy
        Imaginary-mode policy and frequency floor (default ``ModePolicy()``).
    warn
        Name imaginary modes in a warning (``False``: at debug level).

    Returns
    -------
    numpy.ndarray
        Shape (n_primitive_atoms, 3): rms displacement along x, y, z in Å.
    """
    policy = policy or ModePolicy()
    if temperature < 0 or not np.isfinite(temperature):
        raise ThermognnError(f"temperature must be a finite value ≥ 0 K, got {temperature}")
    qpoints, freqs, eigvecs = _modes(phonon, mesh)  # eigvecs (nq, 3n, nb): columns are modes
    is_gamma = np.all(np.abs(qpoints - np.round(qpoints)) < 1e-8, axis=1)
    labels = [np.array2string(q, precision=3) for q in qpoints]
    w = mode_amplitude_weights(freqs, temperature, policy, is_gamma, labels=labels, warn=warn)
    n_atoms = len(phonon.primitive)
    e2 = np.abs(eigvecs) ** 2  # (nq, 3n, nb)
    zeta2 = np.einsum("qb,qcb->c", w, e2).reshape(n_atoms, 3)
    masses = np.asarray(phonon.primitive.masses)
    zeta2 /= len(qpoints) * masses[:, None]
    return np.sqrt(zeta2)


def site_map(phonon, atoms: Atoms, tolerance: float = 0.3) -> np.ndarray:
    """Index of the primitive-cell site of phonon that each atom of ``atoms`` sits on.

    ``atoms`` must be an (undisplaced, possibly uniformly scaled or re-populated)
    supercell of phonon's primitive cell. Species are not compared, so a solid-solution
    cell maps onto the sites of an end member.
    """
    prim_cell = np.asarray(phonon.primitive.cell)
    reps = np.asarray(atoms.cell) @ np.linalg.inv(prim_cell)
    reps_int = np.round(reps)
    if np.abs(reps - reps_int).max() > 0.1 * max(1.0, np.abs(reps_int).max()):
        raise ThermognnError(
            "structure is not a supercell of the phonon unit cell "
            f"(cell ratio {np.round(reps, 3).tolist()})"
        )
    frac = atoms.get_scaled_positions(wrap=True) @ reps_int  # fractional in primitive cell
    prim_frac = np.asarray(phonon.primitive.scaled_positions)
    diff = frac[:, None, :] - prim_frac[None, :, :]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ prim_cell, axis=-1)
    site = np.argmin(dist, axis=1)
    worst = dist[np.arange(len(atoms)), site].max()
    if worst > tolerance:
        raise ThermognnError(
            f"atom off the phonon unit cell's sites by {worst:.2f} Å (> {tolerance} Å)"
        )
    return site


def thermal_amplitudes_for(
    phonon,
    atoms: Atoms,
    temperature: float,
    *,
    mesh: tuple[int, int, int] | None = None,
    policy: ModePolicy | None = None,
    warn: bool = True,
) -> np.ndarray:
    """ζ_{j,α}(T) for every atom of the supercell ``atoms`` (n_atoms × 3, Å)."""
    zeta = thermal_amplitudes(phonon, temperature, mesh=mesh, policy=policy, warn=warn)
    return zeta[site_map(phonon, atoms)]
