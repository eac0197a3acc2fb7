"""Any ASE calculator as a labeler: ``module:factory`` specs and the labels it yields.

A calculator is named either by a registry entry (``gfn1-xtb``, ``emt``, ``chgnet`` …)
or by an import spec ``package.module:factory`` (``ase.calculators.emt:EMT``,
``gpaw:GPAW``, ``mace.calculators:mace_mp``), called with keyword options
(``--calculator-option KEY=VALUE`` on the command line, a ``calculator_option`` table
in a study file). The labeler builds its calculator once and reuses it for every
structure it labels.

Labels from a calculator (units as :mod:`thermognn.labels.base`):

* energy, forces, stress — ASE's ``get_potential_energy``, ``get_forces`` and
  ``get_stress``; a calculator without forces or stress leaves them missing;
* ``band_gap`` and ``vbm`` — from ``get_eigenvalues`` over every k-point and spin
  with ``get_occupation_numbers`` (occupied = at least half the largest occupation)
  or, without occupations, ``get_fermi_level`` (occupied = at or below it); recorded
  as missing, not as a failure, when the calculator exposes neither.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import import_module
from typing import Any

import numpy as np
from ase import Atoms
from ase.units import GPa

from thermognn.errors import ThermognnError
from thermognn.labels.base import Labels, hydrostatic_gpa

log = logging.getLogger(__name__)

#: Exceptions a calculator raises for a property it does not implement.
NOT_AVAILABLE: tuple[type[BaseException], ...] = (
    NotImplementedError,
    AttributeError,
    TypeError,
    ValueError,
    IndexError,
    KeyError,
)


def is_import_spec(name: str) -> bool:
    """Whether ``name`` is a ``module:factory`` spec rather than a registry name."""
    module, sep, attr = name.partition(":")
    return bool(sep and module and attr and " " not in name)


def import_factory(spec: str) -> Callable[..., Any]:
    """The callable named by ``package.module:factory`` (a class or a function).

    Raises
    ------
    ThermognnError
        When the module cannot be imported or has no such attribute.
    """
    module_name, _, attr = spec.partition(":")
    try:
        module = import_module(module_name)
    except ImportError as exc:
        raise ThermognnError(f"calculator {spec}: cannot import {module_name} ({exc})") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ThermognnError(f"calculator {spec}: {module_name} has no {attr!r}")
    if not callable(target):
        raise ThermognnError(f"calculator {spec}: {attr!r} is not callable")
    return target  # type: ignore[no-any-return]


def build_calculator(factory: Callable[..., Any], options: dict[str, Any], name: str) -> Any:
    """``factory(**options)``, with a bad option reported as one line naming ``name``.

    Raises
    ------
    ThermognnError
        When the factory rejects an option or does not return an ASE calculator.
    """
    try:
        calc = factory(**options)
    except TypeError as exc:
        raise ThermognnError(f"calculator {name}: {exc}") from None
    if not (hasattr(calc, "get_property") or hasattr(calc, "get_potential_energy")):
        raise ThermognnError(
            f"calculator {name}: the factory returned {type(calc).__name__}, not an ASE calculator"
        )
    return calc


class ASECalculatorLabeler:
    """Labels from any ASE calculator, built once and reused for every structure.

    Parameters
    ----------
    calculator
        An ASE calculator instance (EMT, CHGNet, GPAW, VASP, …).
    name
        Name recorded in the database (``labeler`` key); default: the class name.
    version
        Version recorded with it; default: the calculator's ``version`` attribute,
        else its package's version, else ASE's.
    """

    def __init__(
        self, calculator: Any, name: str | None = None, version: str | None = None
    ) -> None:
        self.calculator = calculator
        self.name = name or type(calculator).__name__.lower()
        self.version = version or _calculator_version(calculator)

    def label(self, atoms: Atoms) -> Labels:
        """Energy, forces, stress and, where exposed, band edges of ``atoms``."""
        atoms = atoms.copy()
        atoms.calc = self.calculator
        energy = float(atoms.get_potential_energy())
        forces = _optional(atoms.get_forces)
        stress = _optional(lambda: atoms.get_stress(voigt=True)) if atoms.pbc.all() else None
        edges = electronic_edges(self.calculator)
        return Labels(
            energy_per_atom=energy / len(atoms),
            band_gap=None if edges is None else edges[1],
            vbm=None if edges is None else edges[0],
            hydrostatic_stress=None if stress is None else hydrostatic_gpa(stress),
            stress=None if stress is None else np.asarray(stress) / GPa,
            energy=energy,
            forces=forces,
        )


def _optional(get: Callable[[], Any]) -> np.ndarray | None:
    """An array property, or ``None`` when the calculator does not implement it."""
    from ase.calculators.calculator import PropertyNotImplementedError

    missing: tuple[type[BaseException], ...] = (PropertyNotImplementedError, *NOT_AVAILABLE)
    try:
        value = get()
    except missing:
        return None
    return None if value is None else np.asarray(value, dtype=float)


def electronic_edges(calc: Any) -> tuple[float, float] | None:
    """VBM and band gap (eV) from a calculator's levels; ``None`` when not exposed.

    Uses every k-point and spin of ``get_eigenvalues`` with ``get_occupation_numbers``
    or, failing those, the Fermi level (:func:`thermognn.labels.vasprun.kpoint_band_edges`
    does the counting).
    """
    from ase.calculators.calculator import PropertyNotImplementedError

    from thermognn.labels.vasprun import kpoint_band_edges

    missing: tuple[type[BaseException], ...] = (PropertyNotImplementedError, *NOT_AVAILABLE)
    try:
        n_spins = int(calc.get_number_of_spins())
        n_kpts = max(len(calc.get_ibz_k_points()), 1)
        eps = np.array(
            [[calc.get_eigenvalues(kpt=k, spin=s) for k in range(n_kpts)] for s in range(n_spins)],
            dtype=float,
        )
    except missing:
        return None
    if eps.size == 0 or not np.isfinite(eps).all():
        return None
    try:
        occ = np.array(
            [
                [calc.get_occupation_numbers(kpt=k, spin=s) for k in range(n_kpts)]
                for s in range(n_spins)
            ],
            dtype=float,
        )
        if occ.shape != eps.shape:
            raise ValueError("occupations do not match the eigenvalues")
    except missing:
        try:
            fermi = float(calc.get_fermi_level())
        except missing:
            return None
        occ = (eps <= fermi).astype(float)
    try:
        return kpoint_band_edges(eps, occ)
    except ValueError as exc:
        log.debug("band edges undefined: %s", exc)
        return None


def _calculator_version(calc: Any) -> str:
    """``version`` of a calculator, else ``<package>-<version>``, else ASE's."""
    own = getattr(calc, "version", None)
    if isinstance(own, str) and own:
        return own
    from importlib.metadata import PackageNotFoundError, version

    package = type(calc).__module__.split(".")[0]
    try:
        return f"{package}-{version(package)}"
    except (PackageNotFoundError, ValueError):
        import ase

        return f"ase-{ase.__version__}"
