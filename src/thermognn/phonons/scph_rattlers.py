"""The two SCPH loops (rattle at T → forces → fit → mix), both fitting with hiphive.

:func:`run_floored` rattles with thermognn's normal-mode sampler (imaginary-mode policy
and frequency floor); :func:`run_hiphive` is hiphive's own
:func:`~hiphive.self_consistent_phonons.self_consistent_harmonic_model`. Both return the
parameter trajectory and the cluster space it belongs to (:func:`supercell_fc2` turns
a parameter vector into the supercell's force constants).
hiphive prints to stdout and draws from numpy's legacy global RNG: both are contained
here (:func:`quiet_hiphive`, :func:`seeded_global_numpy`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError
from thermognn.phonons.amplitudes import ModePolicy
from thermognn.phonons.forceconstants import _to_ase

log = logging.getLogger(__name__)

NEEDS_HIPHIVE = "SCPH renormalisation needs hiphive (pip install 'thermognn[hiphive]')"


@dataclass(frozen=True)
class ScphLoop:
    """What both SCPH loops need (checked by :func:`~thermognn.phonons.scph.renormalize_scph`).

    Attributes
    ----------
    phonon
        ``phonopy.Phonopy`` with the starting (harmonic) force constants.
    supercell
        ``phonon``'s supercell as ASE ``Atoms`` (the cell that is rattled).
    calculator_factory
        Returns the ASE calculator of the forces (called once).
    temperature
        K.
    cutoff
        Pair cutoff of the second-order cluster space, Å.
    alpha
        Mixing step: ``p ← α p_fit + (1 − α) p``.
    n_iterations, n_structures
        Iterations, and rattled structures (force calculations) per iteration.
    seed
        Seed of the rattling (numpy's legacy global RNG is seeded with it too).
    progress
        Called as ``progress(iteration, n_iterations)`` as iterations start.
    on_iteration
        ``floored`` loop only: called after each iteration as
        ``on_iteration(parameters, fc2, stats)`` with the mixed parameters, their full
        supercell force constants (N, N, 3, 3) in eV/Å² and the iteration's
        :func:`sample_statistics`; returning True stops the loop (converged).
    """

    phonon: Any
    supercell: Any
    calculator_factory: Callable[[], Any]
    temperature: float
    cutoff: float
    alpha: float
    n_iterations: int
    n_structures: int
    seed: int
    progress: Callable[[int, int], None] | None = None
    on_iteration: Callable[[np.ndarray, np.ndarray, dict[str, float]], bool] | None = None


@contextlib.contextmanager
def seeded_global_numpy(seed: int) -> Iterator[None]:
    """Seed numpy's legacy global RNG inside the block and restore its state after.

    hiphive's phonon rattler draws from ``np.random`` directly and takes no seed; this
    makes it reproducible without leaking global state to the caller.
    """
    state = np.random.get_state()  # noqa: NPY002 - hiphive draws from the legacy global RNG
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


class _ProgressStream(io.TextIOBase):
    """Receives hiphive's prints: logs them at DEBUG, reports ``Iteration k`` lines."""

    _iteration = re.compile(r"^Iteration (\d+)")

    def __init__(self, total: int, progress: Callable[[int, int], None] | None) -> None:
        self.total = total
        self.progress = progress
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            if line.strip():
                log.debug("hiphive: %s", line.strip())
            match = self._iteration.match(line)
            if match and self.progress:
                self.progress(int(match.group(1)), self.total)
        return len(text)


@contextlib.contextmanager
def quiet_hiphive(stream: io.TextIOBase) -> Iterator[None]:
    """Silence hiphive's/trainstation's stdout loggers and capture its prints."""
    loggers = [logging.getLogger("hiphive"), logging.getLogger("trainstation")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(stream):
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _full_force_constants(phonon) -> np.ndarray:
    fc = np.asarray(phonon.force_constants)
    if fc.shape[0] == fc.shape[1]:
        return fc
    from phonopy.harmonic.force_constants import compact_fc_to_full_fc

    return compact_fc_to_full_fc(phonon.primitive, fc)


def _require_hiphive() -> None:
    """Raise one clear error when hiphive (or its fitting library) is not installed."""
    try:
        import hiphive  # noqa: F401
        import trainstation  # noqa: F401
    except ImportError:
        raise ThermognnError(NEEDS_HIPHIVE) from None


def _cluster_space(phonon, cutoff: float):
    """hiphive's second-order cluster space of the primitive cell, pair cutoff in Å."""
    from hiphive import ClusterSpace

    return ClusterSpace(_to_ase(phonon.primitive), [cutoff])


def _harmonic_parameters(phonon, supercell, cs) -> np.ndarray:
    """``phonon``'s force constants projected onto the cluster space ``cs`` (eV/Å²)."""
    from hiphive import ForceConstants
    from hiphive.utilities import extract_parameters

    fcs = ForceConstants.from_arrays(supercell, fc2_array=_full_force_constants(phonon))
    return np.asarray(extract_parameters(fcs, cs), dtype=float)


def supercell_fc2(cs, parameters: np.ndarray, supercell) -> np.ndarray:
    """Full second-order force constants ``(N, N, 3, 3)`` of ``supercell`` (eV/Å²)."""
    from hiphive import ForceConstantPotential

    fcs = ForceConstantPotential(cs, parameters).get_force_constants(supercell)
    return np.asarray(fcs.get_fc_array(order=2, format="phonopy"))


def run_hiphive(
    loop: ScphLoop, start_from_harmonic: bool, quantum_statistics: bool
) -> tuple[list[np.ndarray], Any]:
    """hiphive's SCPH loop: (parameter trajectory, its hiphive ``ClusterSpace``)."""
    _require_hiphive()
    from hiphive.self_consistent_phonons import self_consistent_harmonic_model

    phonon, supercell = loop.phonon, loop.supercell
    with quiet_hiphive(_ProgressStream(loop.n_iterations, loop.progress)):
        cs = _cluster_space(phonon, loop.cutoff)
        start = _harmonic_parameters(phonon, supercell, cs) if start_from_harmonic else None
        with seeded_global_numpy(loop.seed):
            trajectory = self_consistent_harmonic_model(
                supercell,
                loop.calculator_factory(),
                cs,
                loop.temperature,
                loop.alpha,
                loop.n_iterations,
                loop.n_structures,
                QM_statistics=quantum_statistics,
                parameters_start=start,
            )
    return list(trajectory), cs


def sample_statistics(
    displacements: np.ndarray, forces: np.ndarray, energies: np.ndarray, fc2: np.ndarray
) -> dict[str, float]:
    """Per-iteration averages over the rattled structures (per atom, eV and Å).

    ``energy`` is ⟨E − E_0⟩ (E_0 the ideal supercell), ``harmonic_energy`` ⟨½ uᵀΦu⟩ with
    the force constants the structures were drawn from: at self-consistency their
    difference is the anharmonic part of the potential energy the fit does not carry.
    """
    n_atoms = displacements.shape[1]
    flat = displacements.reshape(len(displacements), -1)
    phi = fc2.transpose(0, 2, 1, 3).reshape(3 * n_atoms, 3 * n_atoms)
    harmonic = 0.5 * np.einsum("si,ij,sj->s", flat, phi, flat)
    return {
        "energy": float(np.mean(energies)) / n_atoms,
        "harmonic_energy": float(np.mean(harmonic)) / n_atoms,
        "rms_displacement": float(np.sqrt(np.mean(displacements**2) * 3)),
        "rms_force": float(np.sqrt(np.mean(forces**2) * 3)),
    }


def _forces_and_energies(structures: list, calc) -> tuple[np.ndarray, np.ndarray]:
    """Forces (n, N, 3) in eV/Å and energies (n,) in eV of ``structures`` with ``calc``."""
    forces, energies = [], []
    for atoms in structures:
        atoms.calc = calc
        forces.append(np.array(atoms.get_forces()))
        energies.append(float(atoms.get_potential_energy()))
        atoms.calc = None
    return np.array(forces), np.array(energies)


def run_floored(loop: ScphLoop, policy: ModePolicy) -> tuple[list[np.ndarray], Any]:
    """The SCPH loop with thermognn's rattler: normal modes with the mode policy and floor.

    hiphive's rattler gives every soft mode its full 1/ω² amplitude, so near-zero modes
    (0.07 THz at R in GFN1-xTB Ag3SBr) throw atoms Ångströms away and the fit diverges.
    Here each iteration samples ``n_structures`` supercells from the current force
    constants with :meth:`NormalModes.sample` (Bose–Einstein amplitudes, imaginary-mode
    policy, frequency floor, acoustic translations skipped: exactly the statistics of the
    ``normal-mode`` scheme), fits second-order force constants to their forces with
    hiphive (least squares, F = −Φu), and mixes ``p ← α p_fit + (1 − α) p``. The loop
    stops early when ``loop.on_iteration`` says so.
    """
    _require_hiphive()
    from hiphive import StructureContainer
    from hiphive.force_constant_model import ForceConstantModel
    from trainstation import Optimizer

    from thermognn.phonons.normalmodes import normal_modes_from_fc

    supercell, alpha = loop.supercell, loop.alpha
    rng = np.random.default_rng(loop.seed)
    calc = loop.calculator_factory()
    masses = supercell.get_masses()
    with quiet_hiphive(io.StringIO()), seeded_global_numpy(loop.seed):
        cs = _cluster_space(loop.phonon, loop.cutoff)
        fcm = ForceConstantModel(supercell, cs)
        params = _harmonic_parameters(loop.phonon, supercell, cs)
        trajectory = [params.copy()]
        container = StructureContainer(cs)
        e0 = _forces_and_energies([supercell.copy()], calc)[1][0] if loop.on_iteration else 0.0
        fcm.parameters = params
        fc2 = fcm.get_force_constants().get_fc_array(order=2, format="phonopy")
        for it in range(loop.n_iterations):
            if loop.progress:
                loop.progress(it, loop.n_iterations)
            start = time.perf_counter()
            u = normal_modes_from_fc(fc2, masses).sample(
                loop.temperature, policy, rng, loop.n_structures
            )
            structures = [supercell.copy() for _ in u]
            for atoms, du in zip(structures, u):
                atoms.positions += du
            forces, energies = _forces_and_energies(structures, calc)
            for du, f in zip(u, forces):
                prepared = supercell.copy()
                prepared.arrays["displacements"] = du
                prepared.arrays["forces"] = f
                container.add_structure(prepared)
            opt = Optimizer(container.get_fit_data(), train_size=1.0)
            opt.train()
            container.delete_all_structures()
            stats = sample_statistics(u, forces, energies - e0, fc2)
            params = alpha * np.asarray(opt.parameters) + (1.0 - alpha) * params
            trajectory.append(params.copy())
            fcm.parameters = params
            fc2 = fcm.get_force_constants().get_fc_array(order=2, format="phonopy")
            stats["seconds"] = time.perf_counter() - start
            if loop.on_iteration and loop.on_iteration(params, fc2, stats):
                break
    return trajectory, cs
