"""Self-consistent harmonic renormalisation of force constants at temperature T (hiphive).

The paper renormalised its force constants with DynaPhoPy (MD-based). This module
offers the self-consistent alternative: repeatedly rattle the supercell at T with the
current force constants, compute forces with an ASE calculator, fit new second-order
force constants (hiphive) and mix them in with step ``alpha``. The default rattler is
thermognn's normal-mode sampler with the imaginary-mode policy and frequency floor
(DESIGN.md §2); hiphive's own
:func:`~hiphive.self_consistent_phonons.self_consistent_harmonic_model` (no floor) is
``rattler="hiphive"``. The result is returned as a new phonopy object, so every later stage
(thermal amplitudes, sampling) uses it exactly like harmonic force constants.

Convergence is reported, never assumed: after every iteration the lowest frequency per
q-point star (Γ, X, M, R) and the relative parameter change are recorded, and the run
has converged when those frequencies settle (:func:`~thermognn.phonons.scph_result.
frequencies_settled`: the window mean stops drifting); a warning is logged otherwise. The final force constants are the
mean of the last ``window`` iterates, which averages the sampling noise down.

The loops live in :mod:`~thermognn.phonons.scph_rattlers`, the record in
:mod:`~thermognn.phonons.scph_result`; this module checks the settings, runs one loop
and builds the result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError
from thermognn.phonons.amplitudes import ModePolicy
from thermognn.phonons.forceconstants import _to_ase
from thermognn.phonons.scph_rattlers import (
    NEEDS_HIPHIVE,
    ScphLoop,
    run_floored,
    run_hiphive,
    seeded_global_numpy,
    supercell_fc2,
)
from thermognn.phonons.scph_result import (
    SCPH_FILE,
    ScphResult,
    frequencies_settled,
    lowest_frequencies,
    relative_changes,
    save_scph,
)

__all__ = [
    "NEEDS_HIPHIVE",
    "SCPH_FILE",
    "ScphResult",
    "check_scph_settings",
    "default_cutoff",
    "frequencies_settled",
    "lowest_frequencies",
    "relative_changes",
    "renormalize_scph",
    "seeded_global_numpy",
    "smallest_width",
]

log = logging.getLogger(__name__)


def smallest_width(cell: np.ndarray) -> float:
    """Smallest distance between opposite faces of a cell (Å)."""
    cell = np.asarray(cell, dtype=float)
    volume = abs(np.linalg.det(cell))
    areas = [np.linalg.norm(np.cross(cell[i], cell[j])) for i, j in ((1, 2), (2, 0), (0, 1))]
    return float(volume / max(areas))


def default_cutoff(supercell_cell: np.ndarray) -> float:
    """Just under half the smallest supercell width (Å): no pair sees its own image."""
    return 0.5 * smallest_width(supercell_cell) - 0.01


def _frequency_minima(phonon) -> tuple[float, float]:
    """(lowest over commensurate q without Γ acoustic, lowest optical at Γ), THz."""
    lowest = lowest_frequencies(phonon)
    return lowest["all"], lowest.get("Γ", float("nan"))


def _nearest_neighbour_distance(atoms) -> float:
    d = atoms.get_all_distances(mic=True)
    return float(d[~np.eye(len(atoms), dtype=bool)].min()) if len(atoms) > 1 else np.inf


def check_scph_settings(
    temperature: float,
    n_iterations: int,
    n_structures: int,
    alpha: float,
    window: int = 4,
    frequency_tolerance: float = 0.1,
) -> None:
    """Refuse bad SCPH settings with one clear error (before any force is computed)."""
    if window < 2:
        raise ThermognnError(f"SCPH convergence window must be ≥ 2 iterations, got {window}")
    if not frequency_tolerance > 0:
        raise ThermognnError(f"SCPH frequency tolerance must be > 0 THz, got {frequency_tolerance}")
    if not np.isfinite(temperature) or temperature <= 0:
        raise ThermognnError(f"SCPH temperature must be > 0 K, got {temperature}")
    if n_iterations < 1:
        raise ThermognnError(f"SCPH iterations must be ≥ 1, got {n_iterations}")
    if n_structures < 1:
        raise ThermognnError(f"SCPH structures per iteration must be ≥ 1, got {n_structures}")
    if not 0 < alpha <= 1:
        raise ThermognnError(f"SCPH mixing alpha must be in (0, 1], got {alpha}")


def renormalize_scph(
    phonon,
    calculator_factory: Callable[[], Any],
    temperature: float,
    *,
    n_iterations: int = 30,
    n_structures: int = 20,
    alpha: float = 0.2,
    cutoff: float | None = None,
    seed: int = 0,
    tolerance: float = 1e-2,
    frequency_tolerance: float = 0.1,
    window: int = 4,
    stop_when_converged: bool = False,
    start_from_harmonic: bool = True,
    quantum_statistics: bool = False,
    rattler: str = "floored",
    policy: ModePolicy | None = None,
    out_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScphResult:
    """Self-consistent harmonic force constants of ``phonon``'s supercell at T.

    Parameters
    ----------
    phonon
        ``phonopy.Phonopy`` with (harmonic) force constants; its supercell is the one
        renormalised, and the result uses the same unit cell, supercell and primitive
        matrices, hence the same atom order.
    calculator_factory
        Returns a fresh ASE calculator for forces (called once).
    temperature
        T in K (> 0).
    n_iterations
        Self-consistency iterations (the most, with ``stop_when_converged``).
    n_structures
        Phonon-rattled structures (force calculations) per iteration.
    alpha
        Mixing step in (0, 1]: ``p_new = alpha · p_fit + (1 − alpha) · p_old``.
    cutoff
        Pair cutoff of the second-order cluster space in Å; default: just under half
        the smallest supercell width. Larger values are refused.
    seed
        Seed of the phonon rattling. hiphive draws from numpy's legacy global RNG
        and takes no seed, so the global RNG is seeded inside this call and its
        previous state restored afterwards.
    tolerance
        Threshold on the relative parameter change (reported only: with a stochastic
        fit it levels off at the sampling noise).
    frequency_tolerance
        THz: converged when the mean lowest frequency of every q-point star over the
        last ``window`` iterations is within this of the mean over the window before.
    window
        Iterations (≥ 2) of the convergence test; the final force constants are the
        mean of the last ``window`` iterates (fewer if fewer were run).
    stop_when_converged
        Stop as soon as the frequencies settled (``floored`` rattler only).
    start_from_harmonic
        Start from the harmonic force constants projected onto the cluster space
        (default); otherwise from hiphive's fit to small random rattles.
    quantum_statistics
        ``rattler="hiphive"`` only: quantum instead of classical mode amplitudes.
    rattler
        ``floored`` (default): thermognn's normal-mode sampler with the imaginary-mode
        policy and frequency floor of ``policy`` (quantum statistics); ``hiphive``:
        hiphive's phonon rattler (no floor; diverges on near-zero soft modes).
    policy
        Mode policy of the floored rattler (default ``ModePolicy()``: ``abs``, 0.5 THz).
    out_dir
        If given, ``phonopy_params.yaml`` (renormalised force constants included) and
        ``scph.json`` (settings, history, convergence) are written there.
    progress
        Called as ``progress(iteration, n_iterations)`` as iterations start.

    Returns
    -------
    ScphResult
        The renormalised phonopy object and the convergence record.

    Raises
    ------
    ThermognnError
        Bad settings, a cutoff beyond half the supercell width, no pair inside the
        cutoff, or force constants missing from ``phonon``.
    """
    check_scph_settings(temperature, n_iterations, n_structures, alpha, window, frequency_tolerance)
    if phonon.force_constants is None:
        raise ThermognnError("SCPH needs a phonopy object with force constants")
    supercell = _to_ase(phonon.supercell)
    cutoff = _checked_cutoff(supercell, cutoff)
    if rattler not in ("floored", "hiphive"):
        raise ThermognnError(f"rattler: unknown {rattler!r}; choose floored or hiphive")
    frequencies = [lowest_frequencies(phonon)]
    statistics: list[dict[str, float]] = []

    def on_iteration(params: np.ndarray, fc2: np.ndarray, stats: dict[str, float]) -> bool:
        frequencies.append(lowest_frequencies(_phonopy_with(phonon, fc2)))
        statistics.append(stats)
        log.info(
            "SCPH iteration %d: lowest THz %s; ⟨E−E0⟩ %.4f eV/atom, ⟨½uΦu⟩ %.4f eV/atom",
            len(statistics),
            ", ".join(f"{k} {v:.3f}" for k, v in frequencies[-1].items()),
            stats["energy"],
            stats["harmonic_energy"],
        )
        return stop_when_converged and frequencies_settled(frequencies, window, frequency_tolerance)

    loop = ScphLoop(
        phonon=phonon,
        supercell=supercell,
        calculator_factory=calculator_factory,
        temperature=temperature,
        cutoff=cutoff,
        alpha=alpha,
        n_iterations=n_iterations,
        n_structures=n_structures,
        seed=seed,
        progress=progress,
        on_iteration=on_iteration,
    )
    if rattler == "floored":
        trajectory, cs = run_floored(loop, policy or ModePolicy())
    else:
        trajectory, cs = run_hiphive(loop, start_from_harmonic, quantum_statistics)
        for params in trajectory[1:]:
            frequencies.append(
                lowest_frequencies(_phonopy_with(phonon, supercell_fc2(cs, params, supercell)))
            )
    # entry 0: the start the iterations mixed from (harmonic projected on the cluster space)
    frequencies[0] = lowest_frequencies(
        _phonopy_with(phonon, supercell_fc2(cs, trajectory[0], supercell))
    )
    if progress:
        progress(n_iterations, n_iterations)
    done = len(trajectory) - 1
    final_params = np.mean(trajectory[-min(window, done) :], axis=0)
    fc2 = supercell_fc2(cs, final_params, supercell)
    if not np.all(np.isfinite(fc2)):
        raise ThermognnError("SCPH produced non-finite force constants")
    renormalized = _phonopy_with(phonon, fc2)
    low_h, gamma_h = _frequency_minima(phonon)
    final = lowest_frequencies(renormalized)
    result = ScphResult(
        phonon=renormalized,
        temperature=float(temperature),
        n_iterations=n_iterations,
        n_structures=n_structures,
        alpha=alpha,
        cutoff=cutoff,
        seed=seed,
        history=relative_changes(trajectory),
        tolerance=tolerance,
        converged=frequencies_settled(frequencies, window, frequency_tolerance),
        parameters=np.asarray(final_params, dtype=float),
        min_frequency_harmonic=low_h,
        min_frequency_renormalized=final["all"],
        gamma_min_frequency_harmonic=gamma_h,
        gamma_min_frequency_renormalized=final.get("Γ", float("nan")),
        frequency_history=frequencies,
        frequency_tolerance=frequency_tolerance,
        window=window,
        iterations_done=done,
        final_frequencies=final,
        extra={
            "start": "harmonic" if start_from_harmonic or rattler == "floored" else "rattled",
            "quantum_statistics": quantum_statistics if rattler == "hiphive" else True,
            "rattler": rattler,
            "sample_statistics": statistics,
            **((policy or ModePolicy()).record() if rattler == "floored" else {}),
        },
    )
    (log.info if result.converged else log.warning)(result.summary())
    if final["all"] < 0:
        log.warning(
            "SCPH force constants at %g K still have imaginary modes: %s THz",
            temperature,
            ", ".join(f"{k} {v:.3f}" for k, v in final.items() if v < 0),
        )
    if out_dir is not None:
        result.out_dir = save_scph(result, Path(out_dir))
    return result


def _checked_cutoff(supercell, cutoff: float | None) -> float:
    """The cluster-space cutoff (Å): default, or the user's if the supercell allows it."""
    limit = 0.5 * smallest_width(supercell.cell)
    cutoff = default_cutoff(supercell.cell) if cutoff is None else float(cutoff)
    if cutoff >= limit:
        raise ThermognnError(
            f"SCPH cutoff {cutoff:.3f} Å is not below half the smallest supercell width "
            f"({limit:.3f} Å); use a larger supercell or a smaller cutoff"
        )
    nearest = _nearest_neighbour_distance(supercell)
    if cutoff <= nearest:
        raise ThermognnError(
            f"SCPH cutoff {cutoff:.3f} Å contains no atom pair (nearest neighbours at "
            f"{nearest:.3f} Å); use a larger supercell"
        )
    return cutoff


def _phonopy_with(phonon, fc2: np.ndarray):
    """A phonopy object like ``phonon`` (same cells, same atom order) with FCs ``fc2``."""
    from phonopy import Phonopy

    new = Phonopy(
        phonon.unitcell,
        supercell_matrix=phonon.supercell_matrix,
        primitive_matrix=phonon.primitive_matrix,
    )
    if not np.allclose(
        new.supercell.scaled_positions, phonon.supercell.scaled_positions, atol=1e-8
    ):  # pragma: no cover - phonopy builds supercells deterministically
        raise ThermognnError("SCPH: rebuilt supercell does not match the harmonic one's atom order")
    new.force_constants = fc2
    return new
