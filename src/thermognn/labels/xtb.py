"""GFN1-xTB (and GFN2-xTB) labels and ASE calculator through tblite, periodic, Γ-point.

The GFN1 halogen-bond (XB) correction is removed: in tblite 0.8 that term is not
periodic-aware and gives forces of hundreds of eV/Å on the perfect cubic Ag3SBr cell
(see PITFALLS.md). GFN1's exported parameter dictionary minus its ``halogen`` table
is the method used here; a test checks forces vanish on the perfect cell.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.units import Bohr, GPa, Hartree, kB

from thermognn.errors import LabelError
from thermognn.labels.base import Labels, band_edges, hydrostatic_gpa

#: Elements GFN1/GFN2-xTB are parametrised for (H–Rn).
MAX_ATOMIC_NUMBER = 86

METHODS = ("gfn1-xtb", "gfn2-xtb")


@functools.lru_cache(maxsize=1)
def gfn1_without_halogen_bond() -> dict[str, Any]:
    """GFN1-xTB parameters as a dict, with the halogen-bond correction removed."""
    from tblite import library

    param = library.new_param()
    library.export_gfn1_param(param)
    table = library.new_table()
    library.dump_param(param, table)
    data = library.table_to_dict(table)
    data.pop("halogen", None)
    return data


def tblite_version() -> str:
    """Installed tblite version."""
    from importlib.metadata import version

    return version("tblite")


def _method_arg(method: str) -> str | dict[str, Any]:
    method = method.lower()
    if method == "gfn1-xtb":
        return gfn1_without_halogen_bond()
    if method == "gfn2-xtb":
        return "GFN2-xTB"
    raise LabelError(f"unknown xTB method {method!r}; choose one of {', '.join(METHODS)}")


def check_elements(atoms: Atoms, source: str = "structure") -> None:
    """Raise :class:`LabelError` for elements outside xTB's parametrisation."""
    bad = sorted(
        {
            s
            for s, z in zip(atoms.get_chemical_symbols(), atoms.numbers)
            if z < 1 or z > MAX_ATOMIC_NUMBER
        }
    )
    if bad:
        raise LabelError(f"{source}: element(s) {', '.join(bad)} not parametrised in xTB")


#: tblite results kept from a single point (atomic units).
RESULT_KEYS = ("energy", "gradient", "virial", "orbital-energies", "orbital-occupations")


def xtb_singlepoint(
    atoms: Atoms,
    method: str = "gfn1-xtb",
    *,
    electronic_temperature: float = 300.0,
    max_iterations: int = 250,
    accuracy: float = 1.0,
) -> dict[str, np.ndarray]:
    """Run one tblite single point from scratch; results in tblite's atomic units.

    Returns a dict with ``energy`` (Hartree), ``gradient`` (Hartree/Bohr), ``virial``
    (Hartree), ``orbital-energies`` (Hartree) and ``orbital-occupations``.

    Raises
    ------
    LabelError
        When the SCF does not converge or tblite rejects the input.
    """
    settings = XTBSettings(method, electronic_temperature, max_iterations, accuracy)
    return TBLiteSession(settings, warm_start=False).singlepoint(atoms)


@dataclass
class XTBSettings:
    """What an xTB single point needs besides the structure.

    Attributes
    ----------
    method
        ``gfn1-xtb`` (default; without the halogen-bond term) or ``gfn2-xtb``.
    electronic_temperature
        Fermi smearing temperature in K (tblite's default 300 K).
    max_iterations
        SCF iteration limit; non-convergence raises :class:`LabelError`.
    accuracy
        tblite's numerical accuracy factor (1 = its default; larger is looser).
    """

    method: str = "gfn1-xtb"
    electronic_temperature: float = 300.0
    max_iterations: int = 250
    accuracy: float = 1.0

    def singlepoint(self, atoms: Atoms) -> dict[str, np.ndarray]:
        """:func:`xtb_singlepoint` of ``atoms`` with these settings (atomic units)."""
        return TBLiteSession(self, warm_start=False).singlepoint(atoms)


class TBLiteSession:
    """One tblite calculator reused from structure to structure, with warm starts.

    A structure with the same atoms (numbers and periodicity) as the previous one
    moves the existing calculator (``update`` of positions and lattice) instead of
    building a new one, and, with ``warm_start``, starts its SCF from the converged
    result of the nearest structure seen so far (smallest minimum-image displacement,
    among the last ``pool_size``). An SCF that fails from a warm start is retried
    from scratch before it counts as a failure. Labels agree with cold starts to
    within the SCF tolerance (benchmarks/bench_labels.py prints the largest difference).

    Parameters
    ----------
    settings
        Method, electronic temperature, iteration limit, accuracy.
    warm_start
        Start each SCF from the nearest converged result.
    pool_size
        Converged results kept as starting guesses.
    """

    def __init__(self, settings: XTBSettings, *, warm_start: bool = True, pool_size: int = 8):
        self.settings = settings
        self.warm_start = warm_start
        self.pool_size = pool_size
        self._calc: Any = None
        self._key: tuple[Any, ...] | None = None
        self._pool: list[tuple[np.ndarray, np.ndarray, Any]] = []

    def singlepoint(self, atoms: Atoms) -> dict[str, np.ndarray]:
        """One single point of ``atoms`` (tblite's atomic units, keys :data:`RESULT_KEYS`).

        Raises
        ------
        LabelError
            When the SCF does not converge (also from scratch) or tblite rejects the input.
        """
        check_elements(atoms)
        guess = self._nearest(atoms) if self.warm_start else None
        try:
            res = self._run(atoms, guess)
        except Exception as exc:  # tblite raises TBLiteRuntimeError / TBLiteValueError
            self._calc, self._pool = None, []
            if guess is None:
                raise _label_error(self.settings.method, exc) from exc
            try:
                res = self._run(atoms, None)
            except Exception as exc2:  # noqa: BLE001 - same family as above
                self._calc = None
                raise _label_error(self.settings.method, exc2) from exc2
        out = {key: np.asarray(res.get(key)) for key in RESULT_KEYS}
        if not np.isfinite(out["energy"]).all():
            self._calc, self._pool = None, []
            raise LabelError(f"{self.settings.method} returned a non-finite energy")
        if self.warm_start:
            self._pool = [*self._pool, (atoms.get_scaled_positions(False), atoms.cell[:], res)]
            self._pool = self._pool[-self.pool_size :]
        return out

    def _run(self, atoms: Atoms, guess: Any) -> Any:
        key = (tuple(atoms.numbers), tuple(bool(p) for p in atoms.pbc))
        positions = atoms.positions / Bohr
        lattice = np.asarray(atoms.cell) / Bohr
        silent = io.StringIO()
        if self._calc is None or key != self._key:
            from tblite.interface import Calculator as TBCalculator

            self._pool = [] if key != self._key else self._pool
            calc = TBCalculator(
                _method_arg(self.settings.method),
                atoms.numbers,
                positions,
                lattice=lattice,
                periodic=np.asarray(atoms.pbc),
                logger=silent.write,
            )
            calc.set("verbosity", 0)
            calc.set("accuracy", self.settings.accuracy)
            calc.set("max-iter", self.settings.max_iterations)
            calc.set("temperature", self.settings.electronic_temperature * kB / Hartree)
            self._calc, self._key = calc, key
        else:
            self._calc.update(positions=positions, lattice=lattice)
        with contextlib.redirect_stdout(silent):
            if guess is None:
                return self._calc.singlepoint()
            return self._calc.singlepoint(guess, copy=True)

    def _nearest(self, atoms: Atoms) -> Any:
        """The kept result of the structure nearest to ``atoms`` (same atoms), or None."""
        key = (tuple(atoms.numbers), tuple(bool(p) for p in atoms.pbc))
        if not self._pool or key != self._key:
            return None
        frac = atoms.get_scaled_positions(False)
        best, best_d = None, np.inf
        for other_frac, other_cell, res in self._pool:
            diff = frac - other_frac
            diff -= np.round(diff)
            d = float(
                np.linalg.norm(diff @ atoms.cell[:]) + np.linalg.norm(atoms.cell[:] - other_cell)
            )
            if d < best_d:
                best, best_d = res, d
        return best


def _label_error(method: str, exc: Exception) -> LabelError:
    msg = " ".join(str(exc).split())
    return LabelError(f"{method} failed: {msg}")


@dataclass(eq=False)
class XTBLabeler(XTBSettings):
    """Energy per atom, band gap, VBM, hydrostatic stress and forces from GFN1-/GFN2-xTB.

    Takes the :class:`XTBSettings` plus ``warm_start`` (default on): one tblite
    calculator is kept and each SCF starts from the nearest converged result
    (:class:`TBLiteSession`). An unknown method raises :class:`LabelError`.
    """

    warm_start: bool = True
    name: str = field(init=False)
    version: str = field(init=False)

    def __post_init__(self) -> None:
        if self.method.lower() not in METHODS:
            raise LabelError(
                f"unknown xTB method {self.method!r}; choose one of {', '.join(METHODS)}"
            )
        self.method = self.method.lower()
        self.name = self.method
        self.version = f"tblite-{tblite_version()}"
        self._session = TBLiteSession(self, warm_start=self.warm_start)

    def label(self, atoms: Atoms) -> Labels:
        res = self._session.singlepoint(atoms)
        energy_ev = float(res["energy"]) * Hartree
        eps = res["orbital-energies"] * Hartree
        occ = res["orbital-occupations"]
        try:
            vbm, gap = band_edges(eps, occ)
        except ValueError as exc:
            raise LabelError(f"band edges undefined: {exc}") from exc
        stress = xtb_stress(res["virial"], atoms.get_volume())
        return Labels(
            energy_per_atom=energy_ev / len(atoms),
            band_gap=gap,
            vbm=vbm,
            hydrostatic_stress=hydrostatic_gpa(stress),
            stress=stress / GPa,
            eigenvalues=eps,
            occupations=occ,
            energy=energy_ev,
            forces=-np.asarray(res["gradient"]) * Hartree / Bohr,
        )


def xtb_stress(virial: np.ndarray, volume: float) -> np.ndarray:
    """Voigt stress in eV/Å³ (ASE convention) from tblite's virial (Hartree)."""
    s = np.asarray(virial).reshape(3, 3) * Hartree / volume
    return s.flat[[0, 4, 8, 5, 2, 1]].copy()


class XTBCalculator(Calculator):
    """ASE calculator with the same xTB physics as :class:`XTBLabeler`.

    Used for phonons, relaxation and molecular dynamics so that every stage sees one
    potential. Implements energy, free_energy, forces and stress; consecutive calls
    reuse one tblite calculator and start from the nearest converged result.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        method: str = "gfn1-xtb",
        electronic_temperature: float = 300.0,
        max_iterations: int = 250,
        accuracy: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.xtb = XTBSettings(method, electronic_temperature, max_iterations, accuracy)
        self._session = TBLiteSession(self.xtb)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        res = self._session.singlepoint(self.atoms)
        energy = float(res["energy"]) * Hartree
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = -np.asarray(res["gradient"]) * Hartree / Bohr
        if self.atoms.pbc.all():
            self.results["stress"] = xtb_stress(res["virial"], self.atoms.get_volume())


def single_thread_env() -> None:
    """Pin OpenMP/BLAS to one thread (for Dask workers; xTB is run one process a core)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
