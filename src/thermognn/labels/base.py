"""The labeler protocol and the four labels of a configuration.

Units and sign conventions (binding, DESIGN.md §4–5):

* ``energy_per_atom`` — total energy / number of atoms, eV/atom.
* ``band_gap`` — lowest unoccupied minus highest occupied one-particle level, eV.
* ``vbm`` — highest occupied level (valence band maximum), eV, on the method's own
  absolute scale (no vacuum alignment; periodic codes have none).
* ``hydrostatic_stress`` — σ_h = tr(σ)/3 in GPa with ASE's sign convention: σ = (1/V)
  ∂E/∂ε, so a cell that wants to *shrink* (under tension) has σ_h > 0 and a compressed
  cell has σ_h < 0. This is the negative of the pressure VASP prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from ase import Atoms
from ase.units import GPa

from thermognn.plugins import Registry

#: The four labels, their units and descriptions (stored in the database metadata).
LABEL_UNITS: dict[str, str] = {
    "energy_per_atom": "eV/atom",
    "band_gap": "eV",
    "vbm": "eV",
    "hydrostatic_stress": "GPa",
}
LABEL_NAMES: tuple[str, ...] = tuple(LABEL_UNITS)


@dataclass
class Labels:
    """Labels of one configuration.

    Attributes
    ----------
    energy_per_atom
        eV/atom.
    band_gap, vbm
        eV; ``None`` for methods without electronic levels (e.g. force fields).
    hydrostatic_stress
        tr(σ)/3 in GPa, ASE sign convention; ``None`` without a stress.
    stress
        Voigt stress (xx, yy, zz, yz, xz, xy) in GPa, ASE sign, if available.
    eigenvalues
        One-particle levels in eV, if available.
    occupations
        Occupations of ``eigenvalues`` (0–2), if available.
    energy
        Total energy in eV (default: ``energy_per_atom`` × number of atoms).
    forces
        Forces in eV/Å (n_atoms × 3), if available.
    extra
        Further scalar results of the labeler.
    """

    energy_per_atom: float
    band_gap: float | None = None
    vbm: float | None = None
    hydrostatic_stress: float | None = None
    stress: np.ndarray | None = None
    eigenvalues: np.ndarray | None = None
    occupations: np.ndarray | None = None
    extra: dict[str, float] = field(default_factory=dict)
    energy: float | None = None
    forces: np.ndarray | None = None

    def scalars(self) -> dict[str, float]:
        """The labels present as a dict of finite floats (key-value pairs for a row)."""
        out = {k: getattr(self, k) for k in LABEL_NAMES if getattr(self, k) is not None}
        for k, v in out.items():
            if not math.isfinite(v):
                from thermognn.errors import LabelError

                raise LabelError(f"label {k} is not finite ({v})")
        return {k: float(v) for k, v in out.items()}


@runtime_checkable
class Labeler(Protocol):
    """Anything that turns a configuration into :class:`Labels`."""

    name: str
    version: str

    def label(self, atoms: Atoms) -> Labels:
        """Label one configuration; raise :class:`thermognn.errors.LabelError` on failure."""
        ...


@dataclass(frozen=True)
class LabelerEntry:
    """A registered labeler.

    Attributes
    ----------
    name
        Registry name (``--labeler``, ``--calculator``).
    factory
        ``factory(**options)`` → a :class:`Labeler`.
    calculator
        Factory of the ASE calculator behind it (for phonons, relaxation and MD),
        called with the labeler's keyword options, or ``None`` when it has none.
    description
        One line for listings.
    """

    name: str
    factory: Callable[..., Labeler]
    calculator: Callable[..., Any] | None = None
    description: str = ""


LABELER_REGISTRY: Registry[LabelerEntry] = Registry("labeler", builtins=("thermognn.labels",))


def register_labeler(
    name: str, *, calculator: Callable[..., Any] | None = None, description: str = ""
) -> Callable[[Callable], Callable]:
    """Decorator: register a labeler class or factory function under ``name``.

    Parameters
    ----------
    name
        Labeler name, as given to ``--labeler`` (the row's ``labeler`` key is the
        instance's own ``name``).
    calculator
        Factory of its ASE calculator (taking the labeler's keyword options), if
        phonons, relaxation and MD may use it.
    description
        One line for listings (default: the first docstring line).

    Examples
    --------
    >>> @register_labeler("lj")
    ... class LJLabeler:
    ...     name, version = "lj", "1"
    ...     def label(self, atoms): ...
    """

    def wrap(factory: Callable) -> LabelerEntry:
        doc = description or (factory.__doc__ or "").strip().split("\n")[0]
        return LabelerEntry(name, factory, calculator, doc)

    return LABELER_REGISTRY.decorator(name, wrap)


def register_calculator(
    name: str, calculator: Callable[..., Any], *, description: str = ""
) -> None:
    """Register an ASE calculator factory as labeler ``name``.

    The labeler (:class:`~thermognn.labels.calculators.ASECalculatorLabeler`) builds
    ``calculator(**options)`` once and labels energy, forces, stress and, where the
    calculator exposes its levels, band gap and VBM.

    Parameters
    ----------
    name
        Labeler and calculator name.
    calculator
        Factory of the ASE calculator, called with the labeler's keyword options (a
        class such as ``EMT`` works).
    description
        One line for listings.
    """

    def factory(**options: Any) -> Labeler:
        from thermognn.labels.calculators import ASECalculatorLabeler, build_calculator

        return ASECalculatorLabeler(build_calculator(calculator, options, name), name=name)

    register_labeler(name, calculator=calculator, description=description)(factory)


def band_edges(eigenvalues: np.ndarray, occupations: np.ndarray) -> tuple[float, float]:
    """Valence band maximum and band gap (same units as ``eigenvalues``).

    The highest occupied level is the highest level holding at least half of the
    maximal occupation; the gap is the distance to the next level above it. With a
    small electronic temperature this equals the aufbau HOMO–LUMO gap of an insulator.
    """
    order = np.argsort(eigenvalues)
    e = np.asarray(eigenvalues)[order]
    occ = np.asarray(occupations)[order]
    full = occ.max() if occ.size else 0.0
    occupied = np.flatnonzero(occ >= 0.5 * full)
    if full <= 0 or occupied.size == 0:
        raise ValueError("no occupied levels")
    homo = int(occupied.max())
    if homo + 1 >= len(e):
        raise ValueError("no unoccupied level above the highest occupied one")
    return float(e[homo]), float(e[homo + 1] - e[homo])


def hydrostatic_gpa(stress_voigt_ev_a3: np.ndarray) -> float:
    """tr(σ)/3 in GPa from a Voigt stress in eV/Å³ (ASE convention)."""
    return float(np.mean(np.asarray(stress_voigt_ev_a3)[:3]) / GPa)
