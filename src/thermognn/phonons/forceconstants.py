"""Harmonic force constants by finite displacements (phonopy), or loaded from phonopy files.

Computed force constants are saved as phonopy's own ``phonopy_params.yaml`` (force
constants included) in a folder keyed by a hash of the inputs, so the same crystal,
supercell, calculator and displacement are never computed twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from thermognn.errors import ThermognnError

log = logging.getLogger(__name__)

PARAMS_FILE = "phonopy_params.yaml"

#: Force constants shipped with the package (GFN1-xTB, 2×2×2, for the built-in materials).
SHIPPED_PHONONS = Path(__file__).resolve().parent.parent / "data" / "phonons"


def _to_phonopy_atoms(atoms: Atoms):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=np.asarray(atoms.cell),
        scaled_positions=atoms.get_scaled_positions(),
        masses=atoms.get_masses(),
    )


def _to_ase(patoms) -> Atoms:
    return Atoms(
        symbols=patoms.symbols, cell=patoms.cell, scaled_positions=patoms.scaled_positions, pbc=True
    )


def default_cache_dir() -> Path:
    """``$THERMOGNN_CACHE`` or ``~/.cache/thermognn``."""
    return Path(os.environ.get("THERMOGNN_CACHE", Path.home() / ".cache" / "thermognn"))


def phonon_key(
    unitcell: Atoms, supercell: tuple[int, int, int], calculator_name: str, distance: float
) -> str:
    """Hash of everything that determines the force constants."""
    payload = {
        "numbers": unitcell.numbers.tolist(),
        "cell": np.round(np.asarray(unitcell.cell), 8).tolist(),
        "frac": np.round(unitcell.get_scaled_positions(), 8).tolist(),
        "supercell": list(supercell),
        "calculator": calculator_name,
        "distance": distance,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def compute_phonons(
    unitcell: Atoms,
    calculator_factory: Callable[[], Any],
    supercell: tuple[int, int, int] = (2, 2, 2),
    *,
    distance: float = 0.01,
    out_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
):
    """Harmonic force constants of ``unitcell`` by finite displacements.

    Parameters
    ----------
    unitcell
        The primitive/unit cell (e.g. the 5-atom cubic cell).
    calculator_factory
        Returns a fresh ASE calculator for forces (e.g. ``XTBCalculator``).
    supercell
        Diagonal supercell matrix for the finite displacements.
    distance
        Displacement amplitude in Å.
    out_dir
        If given, phonopy's ``phonopy_params.yaml`` (force constants included) is
        written there.
    progress
        Called as ``progress(done, total)`` after each displaced supercell.

    Returns
    -------
    phonopy.Phonopy
        With symmetrised force constants set.
    """
    from phonopy import Phonopy

    ph = Phonopy(
        _to_phonopy_atoms(unitcell), supercell_matrix=np.diag(supercell), primitive_matrix="auto"
    )
    ph.generate_displacements(distance=distance)
    cells = ph.supercells_with_displacements or []
    forces = []
    for k, cell in enumerate(cells):
        atoms = _to_ase(cell)
        atoms.calc = calculator_factory()
        f = atoms.get_forces()
        forces.append(f - f.mean(axis=0))  # remove the net force (drift)
        if progress:
            progress(k + 1, len(cells))
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        ph.save(out / PARAMS_FILE, settings={"force_constants": True})
    return ph


def load_phonons(path: str | Path):
    """Load phonons computed elsewhere (e.g. with DFT).

    ``path`` is a ``phonopy_params.yaml``/``phonopy.yaml`` file, or a folder holding one
    (plus ``FORCE_CONSTANTS`` or ``FORCE_SETS`` if the yaml has no force data).

    Raises
    ------
    ThermognnError
        When nothing loadable is found; the message names the path.
    """
    import phonopy

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        for name in (PARAMS_FILE, "phonopy_disp.yaml", "phonopy.yaml"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise ThermognnError(f"{folder}: no phonopy_params.yaml / phonopy.yaml found")
    if not path.is_file():
        raise ThermognnError(f"{path}: no such phonopy file")
    kwargs: dict[str, Any] = {"is_compact_fc": False}
    if (folder / "FORCE_CONSTANTS").is_file():
        kwargs["force_constants_filename"] = str(folder / "FORCE_CONSTANTS")
    elif (folder / "FORCE_SETS").is_file():
        kwargs["force_sets_filename"] = str(folder / "FORCE_SETS")
    try:
        ph = phonopy.load(str(path), **kwargs)
    except Exception as exc:  # phonopy raises many types on malformed files
        raise ThermognnError(f"{path}: cannot load phonons ({type(exc).__name__}: {exc})") from exc
    if ph.force_constants is None:
        raise ThermognnError(f"{path}: no force constants or force sets found")
    return ph


def phonons_for_material(
    unitcell: Atoms,
    supercell: tuple[int, int, int] = (2, 2, 2),
    *,
    calculator: str = "gfn1-xtb",
    cache_dir: str | Path | None = None,
    distance: float = 0.01,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Any, Path]:
    """Force constants of ``unitcell``, computed once and then read from the cache.

    Returns the phonopy object and the folder holding its ``phonopy_params.yaml``.
    """
    from thermognn.labels import calculator_factory

    key = phonon_key(unitcell, supercell, calculator, distance)
    folder = (
        Path(cache_dir or default_cache_dir() / "phonons")
        / f"{unitcell.get_chemical_formula()}-{key}"
    )
    if (folder / PARAMS_FILE).is_file():
        log.info("phonons: reusing %s", folder)
        return load_phonons(folder / PARAMS_FILE), folder
    ph = compute_phonons(
        unitcell,
        calculator_factory(calculator),
        supercell,
        distance=distance,
        out_dir=folder,
        progress=progress,
    )
    (folder / "provenance.json").write_text(
        json.dumps(
            {"calculator": calculator, "supercell": list(supercell), "distance": distance}, indent=2
        )
    )
    return ph, folder
