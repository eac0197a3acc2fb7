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

Convergence is reported, never assumed: the relative parameter change per iteration
is recorded and a warning is logged when the last one is above the tolerance. For the
soft antiperovskites at the GFN1-xTB level, 3 iterations × 4 structures were measured
to be far from converged (PITFALLS.md).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError
from thermognn.phonons.amplitudes import ModePolicy
from thermognn.phonons.forceconstants import PARAMS_FILE, _to_ase

log = logging.getLogger(__name__)

NEEDS_HIPHIVE = "SCPH renormalisation needs hiphive (pip install 'thermognn[hiphive]')"

SCPH_FILE = "scph.json"


@dataclass
class ScphResult:
    """Outcome of a self-consistent harmonic renormalisation.

    Attributes
    ----------
    phonon
        New ``phonopy.Phonopy`` with the renormalised (full) force constants.
    temperature
        K.
    n_iterations, n_structures, alpha, cutoff, seed
        The settings used (``cutoff`` in Å).
    history
        Relative parameter change of each iteration,
        ``‖p_i − p_(i−1)‖ / ‖p_i‖`` (length ``n_iterations``).
    tolerance
        Convergence threshold on the last relative change.
    converged
        Whether ``history[-1] < tolerance``.
    parameters
        Final cluster-space parameters (hiphive units, eV/Å²).
    min_frequency_harmonic, min_frequency_renormalized
        Lowest frequency (THz; negative = imaginary) over the q-points commensurate
        with the supercell, Γ's three acoustic modes excluded.
    gamma_min_frequency_harmonic, gamma_min_frequency_renormalized
        Lowest frequency at Γ (THz) excluding the acoustic modes; ``nan`` for a
        crystal with one atom per primitive cell (no optical modes).
    out_dir
        Folder holding ``phonopy_params.yaml`` and ``scph.json``, if saved.
    """

    phonon: Any
    temperature: float
    n_iterations: int
    n_structures: int
    alpha: float
    cutoff: float
    seed: int
    history: np.ndarray
    tolerance: float
    converged: bool
    parameters: np.ndarray
    min_frequency_harmonic: float
    min_frequency_renormalized: float
    gamma_min_frequency_harmonic: float
    gamma_min_frequency_renormalized: float
    out_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """JSON-serialisable summary (what ``scph.json`` holds)."""

        def num(x: float) -> float | None:
            return None if not np.isfinite(x) else float(x)

        return {
            "method": "self-consistent harmonic (hiphive fit)",
            "temperature": self.temperature,
            "n_iterations": self.n_iterations,
            "n_structures": self.n_structures,
            "alpha": self.alpha,
            "cutoff": self.cutoff,
            "seed": self.seed,
            "history": [float(h) for h in self.history],
            "tolerance": self.tolerance,
            "converged": self.converged,
            "min_frequency_harmonic": num(self.min_frequency_harmonic),
            "min_frequency_renormalized": num(self.min_frequency_renormalized),
            "gamma_min_frequency_harmonic": num(self.gamma_min_frequency_harmonic),
            "gamma_min_frequency_renormalized": num(self.gamma_min_frequency_renormalized),
            "units": {"temperature": "K", "cutoff": "Å", "frequencies": "THz"},
            **self.extra,
        }

    def summary(self) -> str:
        """One line for the CLI and logs."""
        state = "converged" if self.converged else "NOT converged"
        last = self.history[-1] if len(self.history) else float("nan")
        return (
            f"SCPH at {self.temperature:g} K: {state} after {self.n_iterations} iterations × "
            f"{self.n_structures} structures (last relative change {last:.2e}, tolerance "
            f"{self.tolerance:.0e}); lowest frequency {self.min_frequency_harmonic:.3f} → "
            f"{self.min_frequency_renormalized:.3f} THz"
        )


def smallest_width(cell: np.ndarray) -> float:
    """Smallest distance between opposite faces of a cell (Å)."""
    cell = np.asarray(cell, dtype=float)
    volume = abs(np.linalg.det(cell))
    areas = [np.linalg.norm(np.cross(cell[i], cell[j])) for i, j in ((1, 2), (2, 0), (0, 1))]
    return float(volume / max(areas))


def default_cutoff(supercell_cell: np.ndarray) -> float:
    """Just under half the smallest supercell width (Å): no pair sees its own image."""
    return 0.5 * smallest_width(supercell_cell) - 0.01


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
def _quiet_hiphive(stream: io.TextIOBase) -> Iterator[None]:
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


def _frequency_minima(phonon) -> tuple[float, float]:
    """(lowest over commensurate q without Γ acoustic, lowest optical at Γ), THz."""
    from thermognn.phonons.amplitudes import commensurate_qpoints

    qpoints = commensurate_qpoints(phonon)
    phonon.run_qpoints(qpoints)
    freqs = np.asarray(phonon.get_qpoints_dict()["frequencies"])
    gamma = np.flatnonzero(np.all(np.abs(qpoints - np.rint(qpoints)) < 1e-8, axis=1))
    kept = []
    gamma_optical = np.array([])
    for k, f in enumerate(freqs):
        if k in gamma:
            f = f[np.argsort(np.abs(f))][3:]  # the three acoustic translations
            gamma_optical = f
        kept.append(f)
    everything = np.concatenate(kept)
    lowest = float(everything.min()) if everything.size else float("nan")
    lowest_gamma = float(gamma_optical.min()) if gamma_optical.size else float("nan")
    return lowest, lowest_gamma


def _nearest_neighbour_distance(atoms) -> float:
    d = atoms.get_all_distances(mic=True)
    return float(d[~np.eye(len(atoms), dtype=bool)].min()) if len(atoms) > 1 else np.inf


def check_scph_settings(
    temperature: float, n_iterations: int, n_structures: int, alpha: float
) -> None:
    """Refuse bad SCPH settings with one clear error (before any force is computed)."""
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
        Self-consistency iterations.
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
        Converged when the last relative parameter change is below this.
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
    check_scph_settings(temperature, n_iterations, n_structures, alpha)
    if phonon.force_constants is None:
        raise ThermognnError("SCPH needs a phonopy object with force constants")
    supercell = _to_ase(phonon.supercell)
    cutoff = _checked_cutoff(supercell, cutoff)
    if rattler not in ("floored", "hiphive"):
        raise ThermognnError(f"rattler: unknown {rattler!r}; choose floored or hiphive")
    loop: dict[str, Any] = dict(
        cutoff=cutoff,
        alpha=alpha,
        n_iterations=n_iterations,
        n_structures=n_structures,
        seed=seed,
        progress=progress,
    )
    run: Callable[..., tuple[list[np.ndarray], np.ndarray]]
    if rattler == "floored":
        loop["policy"] = policy or ModePolicy()
        run = _run_floored
    else:
        loop.update(start_from_harmonic=start_from_harmonic, quantum_statistics=quantum_statistics)
        run = _run_hiphive
    trajectory, fc2 = run(phonon, supercell, calculator_factory, temperature, **loop)
    if progress:
        progress(n_iterations, n_iterations)
    if not np.all(np.isfinite(fc2)):
        raise ThermognnError("SCPH produced non-finite force constants")
    renormalized = _phonopy_with(phonon, fc2)
    history = relative_changes(trajectory)
    low_h, gamma_h = _frequency_minima(phonon)
    low_r, gamma_r = _frequency_minima(renormalized)
    result = ScphResult(
        phonon=renormalized,
        temperature=float(temperature),
        n_iterations=n_iterations,
        n_structures=n_structures,
        alpha=alpha,
        cutoff=cutoff,
        seed=seed,
        history=history,
        tolerance=tolerance,
        converged=bool(history.size and history[-1] < tolerance),
        parameters=np.asarray(trajectory[-1], dtype=float),
        min_frequency_harmonic=low_h,
        min_frequency_renormalized=low_r,
        gamma_min_frequency_harmonic=gamma_h,
        gamma_min_frequency_renormalized=gamma_r,
        extra={
            "start": "harmonic" if start_from_harmonic else "rattled",
            "quantum_statistics": quantum_statistics,
            "rattler": rattler,
            **((policy or ModePolicy()).record() if rattler == "floored" else {}),
        },
    )
    (log.info if result.converged else log.warning)(result.summary())
    if low_r < 0:
        log.warning(
            "SCPH force constants at %g K still have imaginary modes (%.3f THz)", temperature, low_r
        )
    if out_dir is not None:
        result.out_dir = _save(result, Path(out_dir))
    return result


def relative_changes(trajectory: list[np.ndarray]) -> np.ndarray:
    """``‖p_i − p_(i−1)‖ / ‖p_i‖`` for each step of a parameter trajectory."""
    params = [np.asarray(p, dtype=float) for p in trajectory]
    return np.array(
        [
            float(np.linalg.norm(params[i] - params[i - 1]))
            / max(float(np.linalg.norm(params[i])), 1e-300)
            for i in range(1, len(params))
        ]
    )


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


def _run_hiphive(
    phonon,
    supercell,
    calculator_factory: Callable[[], Any],
    temperature: float,
    *,
    cutoff: float,
    alpha: float,
    n_iterations: int,
    n_structures: int,
    seed: int,
    start_from_harmonic: bool,
    quantum_statistics: bool,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """hiphive's SCPH loop: (parameter trajectory, full FCs of ``supercell`` (N, N, 3, 3))."""
    try:
        from hiphive import ClusterSpace, ForceConstantPotential, ForceConstants
        from hiphive.self_consistent_phonons import self_consistent_harmonic_model
        from hiphive.utilities import extract_parameters
    except ImportError:
        raise ThermognnError(NEEDS_HIPHIVE) from None

    with _quiet_hiphive(_ProgressStream(n_iterations, progress)):
        cs = ClusterSpace(_to_ase(phonon.primitive), [cutoff])
        start = None
        if start_from_harmonic:
            fcs = ForceConstants.from_arrays(supercell, fc2_array=_full_force_constants(phonon))
            start = np.asarray(extract_parameters(fcs, cs))
        with seeded_global_numpy(seed):
            trajectory = self_consistent_harmonic_model(
                supercell,
                calculator_factory(),
                cs,
                temperature,
                alpha,
                n_iterations,
                n_structures,
                QM_statistics=quantum_statistics,
                parameters_start=start,
            )
        fcp = ForceConstantPotential(cs, trajectory[-1])
        fc2 = fcp.get_force_constants(supercell).get_fc_array(order=2, format="phonopy")
    return list(trajectory), np.asarray(fc2)


def _run_floored(
    phonon,
    supercell,
    calculator_factory: Callable[[], Any],
    temperature: float,
    *,
    cutoff: float,
    alpha: float,
    n_iterations: int,
    n_structures: int,
    seed: int,
    policy: ModePolicy,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """The SCPH loop with thermognn's rattler: normal modes with the mode policy and floor.

    hiphive's rattler gives every soft mode its full 1/ω² amplitude, so near-zero modes
    (0.07 THz at R in GFN1-xTB Ag3SBr) throw atoms Ångströms away and the fit diverges.
    Here each iteration samples ``n_structures`` supercells from the current force
    constants with :meth:`NormalModes.sample` (Bose–Einstein amplitudes, imaginary-mode
    policy, frequency floor, acoustic translations skipped: exactly the statistics of the
    ``normal-mode`` scheme), fits second-order force constants to their forces with
    hiphive, and mixes ``p ← α p_fit + (1 − α) p``.
    """
    try:
        from hiphive import ClusterSpace, ForceConstantPotential, ForceConstants, StructureContainer
        from hiphive.force_constant_model import ForceConstantModel
        from hiphive.utilities import extract_parameters, prepare_structures
        from trainstation import Optimizer
    except ImportError:
        raise ThermognnError(NEEDS_HIPHIVE) from None
    from thermognn.phonons.normalmodes import normal_modes_from_fc

    rng = np.random.default_rng(seed)
    calc = calculator_factory()
    masses = supercell.get_masses()
    with _quiet_hiphive(io.StringIO()), seeded_global_numpy(seed):
        cs = ClusterSpace(_to_ase(phonon.primitive), [cutoff])
        fcm = ForceConstantModel(supercell, cs)
        fcs = ForceConstants.from_arrays(supercell, fc2_array=_full_force_constants(phonon))
        params = np.asarray(extract_parameters(fcs, cs), dtype=float)
        trajectory = [params.copy()]
        container = StructureContainer(cs)
        for it in range(n_iterations):
            if progress:
                progress(it, n_iterations)
            fcm.parameters = params
            fc2 = fcm.get_force_constants().get_fc_array(order=2, format="phonopy")
            modes = normal_modes_from_fc(fc2, masses)
            structures = []
            for u in modes.sample(temperature, policy, rng, n_structures):
                atoms = supercell.copy()
                atoms.positions += u
                structures.append(atoms)
            for atoms in prepare_structures(structures, supercell, calc, False):
                container.add_structure(atoms)
            opt = Optimizer(container.get_fit_data(), train_size=1.0)
            opt.train()
            container.delete_all_structures()
            params = alpha * np.asarray(opt.parameters) + (1.0 - alpha) * params
            trajectory.append(params.copy())
        fc2 = (
            ForceConstantPotential(cs, params)
            .get_force_constants(supercell)
            .get_fc_array(order=2, format="phonopy")
        )
    return trajectory, np.asarray(fc2)


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


def _save(result: ScphResult, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    result.phonon.save(out / PARAMS_FILE, settings={"force_constants": True})
    (out / SCPH_FILE).write_text(json.dumps(result.record(), indent=2))
    return out
