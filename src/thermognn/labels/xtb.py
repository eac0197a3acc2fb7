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


def xtb_singlepoint(
    atoms: Atoms,
    method: str = "gfn1-xtb",
    *,
    electronic_temperature: float = 300.0,
    max_iterations: int = 250,
    accuracy: float = 1.0,
) -> dict[str, np.ndarray]:
    """Run one tblite single point; results in tblite's atomic units.

    Returns a dict with ``energy`` (Hartree), ``gradient`` (Hartree/Bohr), ``virial``
    (Hartree), ``orbital-energies`` (Hartree) and ``orbital-occupations``.

    Raises
    ------
    LabelError
        When the SCF does not converge or tblite rejects the input.
    """
    from tblite.interface import Calculator as TBCalculator

    check_elements(atoms)
    silent = io.StringIO()
    try:
        calc = TBCalculator(
            _method_arg(method),
            atoms.numbers,
            atoms.positions / Bohr,
            lattice=np.asarray(atoms.cell) / Bohr,
            periodic=np.asarray(atoms.pbc),
            logger=silent.write,
        )
        calc.set("verbosity", 0)
        calc.set("accuracy", accuracy)
        calc.set("max-iter", max_iterations)
        calc.set("temperature", electronic_temperature * kB / Hartree)
        with contextlib.redirect_stdout(silent):
            res = calc.singlepoint()
        out = {
            key: np.asarray(res.get(key))
            for key in ("energy", "gradient", "virial", "orbital-energies", "orbital-occupations")
        }
    except LabelError:
        raise
    except Exception as exc:  # tblite raises TBLiteRuntimeError / TBLiteValueError
        msg = " ".join(str(exc).split())
        raise LabelError(f"{method} failed: {msg}") from exc
    if not np.isfinite(out["energy"]).all():
        raise LabelError(f"{method} returned a non-finite energy")
    return out


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
    """

    method: str = "gfn1-xtb"
    electronic_temperature: float = 300.0
    max_iterations: int = 250

    def singlepoint(self, atoms: Atoms) -> dict[str, np.ndarray]:
        """:func:`xtb_singlepoint` of ``atoms`` with these settings (atomic units)."""
        return xtb_singlepoint(
            atoms,
            self.method,
            electronic_temperature=self.electronic_temperature,
            max_iterations=self.max_iterations,
        )


@dataclass(eq=False)
class XTBLabeler(XTBSettings):
    """Energy per atom, band gap, VBM and hydrostatic stress from GFN1-/GFN2-xTB.

    Takes the :class:`XTBSettings`; an unknown method raises :class:`LabelError`.
    """

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

    def label(self, atoms: Atoms) -> Labels:
        res = self.singlepoint(atoms)
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
        )


def xtb_stress(virial: np.ndarray, volume: float) -> np.ndarray:
    """Voigt stress in eV/Å³ (ASE convention) from tblite's virial (Hartree)."""
    s = np.asarray(virial).reshape(3, 3) * Hartree / volume
    return s.flat[[0, 4, 8, 5, 2, 1]].copy()


class XTBCalculator(Calculator):
    """ASE calculator with the same xTB physics as :class:`XTBLabeler`.

    Used for phonons and molecular dynamics so that every stage sees one potential.
    Implements energy, free_energy, forces and stress.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        method: str = "gfn1-xtb",
        electronic_temperature: float = 300.0,
        max_iterations: int = 250,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.xtb = XTBSettings(method, electronic_temperature, max_iterations)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        res = self.xtb.singlepoint(self.atoms)
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
