"""A reference crystal at the calculator's own equilibrium, and the check that it is.

Phonons of a reference far from the calculator's equilibrium describe nothing (cubic
SrTiO3 at the experimental 3.905 Å carries σ_h = +68.6 GPa under GFN1-xTB and Γ modes
down to −10 THz). :func:`relax_structure` relaxes positions and cell with ASE's
``FrechetCellFilter`` and an optimiser (BFGS or FIRE), keeping the space group with
``FixSymmetry``; :func:`residuals` measures the forces and stress left on a structure,
and :func:`check_equilibrium` turns them into a warning or a refusal.

Stress uses ASE's sign convention (σ_h = tr(σ)/3 > 0: the cell wants to shrink), GPa.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.units import GPa

from thermognn.errors import ThermognnError

log = logging.getLogger(__name__)

#: Residuals above these are worth a warning (eV/Å, GPa).
WARN_FORCE, WARN_STRESS = 0.05, 1.0
#: Residuals above these make ``phonons`` refuse without ``--allow-unrelaxed`` (eV/Å, GPa).
REFUSE_FORCE, REFUSE_STRESS = 0.5, 10.0

OPTIMISERS = ("BFGS", "FIRE", "LBFGS")


@dataclass(frozen=True)
class Residuals:
    """Forces and stress left on a structure.

    Attributes
    ----------
    max_force
        Largest atomic force norm, eV/Å.
    hydrostatic_stress
        tr(σ)/3, GPa (ASE sign: positive = the cell wants to shrink).
    max_stress
        Largest absolute Voigt stress component, GPa.
    stress
        Voigt stress (xx yy zz yz xz xy), GPa.
    energy
        Potential energy, eV.
    """

    max_force: float
    hydrostatic_stress: float | None
    max_stress: float | None
    stress: tuple[float, ...] | None
    energy: float

    def describe(self) -> str:
        """One line: ``max force … eV/Å, σ_h … GPa``."""
        text = f"max force {self.max_force:.3g} eV/Å"
        if self.hydrostatic_stress is not None and self.max_stress is not None:
            text += f", σ_h {self.hydrostatic_stress:+.3g} GPa (max |σ| {self.max_stress:.3g} GPa)"
        return text


def residuals(atoms: Atoms, calculator: Any) -> Residuals:
    """Forces and stress of ``atoms`` with ``calculator`` (stress only for 3D cells)."""
    atoms = atoms.copy()
    atoms.calc = calculator
    energy = float(atoms.get_potential_energy())
    forces = atoms.get_forces()
    fmax = float(np.linalg.norm(forces, axis=1).max()) if len(atoms) else 0.0
    if not atoms.pbc.all():
        return Residuals(fmax, None, None, None, energy)
    stress = atoms.get_stress(voigt=True) / GPa
    return Residuals(
        fmax,
        float(np.mean(stress[:3])),
        float(np.abs(stress).max()),
        tuple(float(s) for s in stress),
        energy,
    )


@dataclass(frozen=True)
class RelaxResult:
    """Outcome of :func:`relax_structure`.

    Attributes
    ----------
    atoms
        The relaxed structure (a single-point calculator holds its final results).
    initial, final
        :class:`Residuals` before and after.
    steps
        Optimiser steps taken.
    converged
        Whether ``fmax`` was reached within ``steps``.
    lattice_change
        Relative change of the cell volume, (V − V₀)/V₀.
    """

    atoms: Atoms
    initial: Residuals
    final: Residuals
    steps: int
    converged: bool
    lattice_change: float

    def record(self) -> dict[str, Any]:
        """JSON-ready summary (without the structure)."""
        return {
            "initial": asdict(self.initial),
            "final": asdict(self.final),
            "steps": self.steps,
            "converged": self.converged,
            "volume_change": self.lattice_change,
        }


def relax_structure(
    atoms: Atoms,
    calculator_factory: Callable[[], Any],
    *,
    fmax: float = 0.01,
    steps: int = 300,
    optimizer: str = "BFGS",
    cell: bool = True,
    symmetry: bool = True,
    symprec: float = 1e-3,
    pressure: float = 0.0,
    trajectory: str | None = None,
) -> RelaxResult:
    """Relax positions (and the cell) of ``atoms`` with the given calculator.

    Parameters
    ----------
    atoms
        Starting structure (not modified).
    calculator_factory
        Zero-argument factory of the ASE calculator.
    fmax
        Convergence on forces, eV/Å (the cell's generalised forces included).
    steps
        Most optimiser steps.
    optimizer
        ``BFGS`` (default), ``FIRE`` or ``LBFGS``.
    cell
        Relax the cell too (``FrechetCellFilter``), else positions only.
    symmetry
        Keep the space group (``FixSymmetry``).
    symprec
        Symmetry tolerance of ``FixSymmetry``, Å.
    pressure
        External hydrostatic pressure, GPa.
    trajectory
        ASE trajectory file of the steps, if wanted.
    """
    from ase import optimize
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter

    if optimizer.upper() not in OPTIMISERS:
        raise ThermognnError(f"optimizer {optimizer!r}: choose one of {', '.join(OPTIMISERS)}")
    if fmax <= 0 or steps < 1:
        raise ThermognnError(f"relax needs fmax > 0 and steps ≥ 1 (got {fmax}, {steps})")
    if cell and not atoms.pbc.all():
        raise ThermognnError("a cell relaxation needs a periodic 3D structure (use --fixed-cell)")
    work = atoms.copy()
    work.calc = calculator_factory()
    initial = residuals(work, work.calc)
    if symmetry:
        work.set_constraint(FixSymmetry(work, symprec=symprec))
    target = FrechetCellFilter(work, scalar_pressure=pressure * GPa) if cell else work
    opt = getattr(optimize, optimizer.upper())(target, logfile=None, trajectory=trajectory)
    path: list[tuple[float, float | None]] = []
    opt.attach(lambda: path.append(_state(work, atoms)))
    try:
        converged = bool(opt.run(fmax=fmax, steps=steps))
    except Exception as exc:  # noqa: BLE001 - a calculator failing mid-relaxation
        raise ThermognnError(
            f"relaxation failed after {len(path)} steps ({_path_summary(initial, path)}): "
            f"{' '.join(str(exc).split())}"
        ) from exc
    work.set_constraint()
    final = residuals(work, work.calc)
    relaxed = work.copy()
    results: dict[str, Any] = {"energy": final.energy, "forces": work.get_forces()}
    if final.stress is not None:
        results["stress"] = np.asarray(final.stress) * GPa
    relaxed.calc = SinglePointCalculator(relaxed, **results)
    change = relaxed.get_volume() / atoms.get_volume() - 1 if atoms.pbc.all() else 0.0
    result = RelaxResult(relaxed, initial, final, int(opt.nsteps), converged, float(change))
    log.info("relaxed in %d steps: %s → %s", opt.nsteps, initial.describe(), final.describe())
    return result


def _state(work: Atoms, start: Atoms) -> tuple[float, float | None]:
    """Volume change (%) and σ_h (GPa) of the current step, from the stored results."""
    change = 100 * (work.get_volume() / start.get_volume() - 1) if start.pbc.all() else 0.0
    stress = getattr(work.calc, "results", {}).get("stress")
    return change, None if stress is None else float(np.mean(stress[:3]) / GPa)


def _path_summary(initial: Residuals, path: list[tuple[float, float | None]]) -> str:
    """``σ_h +68.6 → +106 GPa, volume −15.0 %``: where the relaxation went."""
    if not path:
        return initial.describe()
    change, sigma = path[-1]
    text = f"volume {change:+.1f} %"
    if initial.hydrostatic_stress is not None and sigma is not None:
        text = f"σ_h {initial.hydrostatic_stress:+.3g} → {sigma:+.3g} GPa, " + text
        if abs(sigma) > abs(initial.hydrostatic_stress):
            text += (
                "; the stress grows along the path: this calculator may have no equilibrium here"
            )
    return text


def unit_cell_of(relaxed: Atoms, unit: Atoms, repeat: tuple[int, int, int]) -> Atoms:
    """The unit cell of a symmetric ``unit.repeat(repeat)`` supercell after relaxation.

    The first ``len(unit)`` atoms of a repeated cell are the unit cell's image at the
    origin (ASE's ``repeat`` order); their fractional positions scale back by ``repeat``.
    """
    n = len(unit)
    reps = np.asarray(repeat, dtype=float)
    out = unit.copy()
    out.set_cell(np.asarray(relaxed.cell) / reps[:, None], scale_atoms=False)
    out.set_scaled_positions((relaxed.get_scaled_positions(wrap=False)[:n] * reps) % 1.0)
    return out


def check_equilibrium(
    found: Residuals,
    *,
    allow: bool = False,
    max_force: float = REFUSE_FORCE,
    max_stress: float = REFUSE_STRESS,
    what: str = "reference",
) -> str | None:
    """A warning line when ``found`` is off equilibrium; an error when far off.

    Returns
    -------
    str or None
        The warning (for the caller to show), ``None`` when the residuals are small.

    Raises
    ------
    ThermognnError
        When forces exceed ``max_force`` (eV/Å) or |σ_h| / max |σ| exceed
        ``max_stress`` (GPa) and ``allow`` is false.
    """
    stress = max(abs(found.hydrostatic_stress or 0.0), found.max_stress or 0.0)
    far = found.max_force > max_force or stress > max_stress
    if not far and found.max_force <= WARN_FORCE and stress <= WARN_STRESS:
        return None
    message = (
        f"the {what} is not at this calculator's equilibrium ({found.describe()}); its "
        "phonons describe a strained crystal — relax it first with `thermognn relax`"
    )
    if far and not allow:
        raise ThermognnError(
            f"{message}, or pass --allow-unrelaxed (limits {max_force:g} eV/Å, {max_stress:g} GPa)"
        )
    log.warning(message)
    return message
