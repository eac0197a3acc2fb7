"""Labels of a finished VASP single point, read from its ``vasprun.xml``.

Units and sign conventions of the four labels are described in
:mod:`thermognn.labels.vasp`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from thermognn.errors import LabelError
from thermognn.labels.base import Labels, hydrostatic_gpa

log = logging.getLogger(__name__)


def kpoint_band_edges(eigenvalues: np.ndarray, occupations: np.ndarray) -> tuple[float, float]:
    """VBM and band gap over all k-points and spins (eV).

    Levels with occupation ≥ ½ of the maximal occupation are occupied. VBM is the
    highest occupied level, CBM the lowest unoccupied one, gap = max(CBM − VBM, 0)
    (0 for a metal, whose bands cross).

    Raises
    ------
    ValueError
        Without occupied or without unoccupied levels.
    """
    e = np.asarray(eigenvalues, dtype=float).ravel()
    occ = np.asarray(occupations, dtype=float).ravel()
    full = occ.max() if occ.size else 0.0
    occupied = occ >= 0.5 * full
    if full <= 0 or not occupied.any():
        raise ValueError("no occupied levels")
    if occupied.all():
        raise ValueError("no unoccupied level (increase NBANDS)")
    vbm = float(e[occupied].max())
    cbm = float(e[~occupied].min())
    return vbm, max(cbm - vbm, 0.0)


def fermi_band_edges(
    eigenvalues: np.ndarray, efermi: float, tol: float = 1e-4
) -> tuple[float, float]:
    """VBM and band gap (eV) by the run's Fermi level, over all k-points and spins.

    A band (one spin, one band index over the k-points) with levels both below and
    above the Fermi level crosses it: the crystal is a metal, gap 0 and VBM = E_F (as
    pymatgen's ``BandStructure.is_metal``). Otherwise VBM is the highest level below
    E_F and the gap the distance to the lowest level above it. Unlike the ½-occupation
    rule of :func:`kpoint_band_edges`, smeared occupations (e.g. Gaussian smearing with
    SIGMA 0.2 eV on a metal) do not open a fictitious gap.

    Parameters
    ----------
    eigenvalues
        ``(n_spins, n_kpoints, n_bands)`` levels, eV.
    efermi
        The run's Fermi level (``<dos><i name="efermi">``), eV.
    tol
        Levels within ``tol`` eV of E_F count as at it.

    Raises
    ------
    ValueError
        Without levels below or above the Fermi level.
    """
    e = np.asarray(eigenvalues, dtype=float)
    if e.ndim != 3:
        raise ValueError(f"eigenvalues of shape {e.shape}, not (spins, k-points, bands)")
    bands = e.transpose(0, 2, 1).reshape(-1, e.shape[1])  # rows (spin, band), columns k
    crosses = ((bands < efermi - tol).any(axis=1) & (bands > efermi + tol).any(axis=1)).any()
    if crosses:
        return float(efermi), 0.0
    below, above = e[e <= efermi + tol], e[e > efermi + tol]
    if below.size == 0:
        raise ValueError(f"no level below the Fermi level {efermi:.4f} eV")
    if above.size == 0:
        raise ValueError("no level above the Fermi level (increase NBANDS)")
    vbm = float(below.max())
    return vbm, max(float(above.min()) - vbm, 0.0)


def read_vasprun(path: str | Path) -> tuple[Atoms, Labels, str]:
    """Labels of a finished VASP single point.

    Parameters
    ----------
    path
        A ``vasprun.xml``.

    Returns
    -------
    (Atoms, Labels, str)
        The final structure (VASP's atom order), its labels (units in the module
        docstring) and the labeler version (``vasp-<version>``). Band gap and VBM come
        from the run's Fermi level (:func:`fermi_band_edges`; the ½-occupation rule
        when the file has none) and are ``None`` when it has no ``<eigenvalues>``.

    Raises
    ------
    LabelError
        Unreadable, truncated or malformed XML, no finished step, an electronic loop
        stopped at NELM, or no energy; the message names the file.
    """
    import xml.etree.ElementTree as ET

    from ase.io import read
    from ase.units import GPa

    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise LabelError(f"{path}: truncated or malformed vasprun.xml ({exc})") from None
    except OSError as exc:
        raise LabelError(f"{path}: cannot read ({exc.strerror})") from None
    version = (root.findtext("generator/i[@name='version']") or "unknown").strip()
    steps = root.findall("calculation")
    if not steps or steps[-1].find("energy") is None:
        raise LabelError(f"{path}: no finished calculation in vasprun.xml")
    nelm = root.findtext(".//parameters//i[@name='NELM']")
    n_scf = len(steps[-1].findall("scstep"))
    if nelm is not None and n_scf >= int(nelm):
        raise LabelError(f"{path}: electronic loop not converged (NELM = {int(nelm)} steps used)")
    try:
        image = read(path, format="vasp-xml", index=-1)
        if not isinstance(image, Atoms) or image.calc is None:
            raise ValueError("no calculation results")
        atoms = image
        energy = float(atoms.get_potential_energy())
    except Exception as exc:  # noqa: BLE001 - ASE's reader raises many types on odd files
        raise LabelError(f"{path}: unreadable vasprun.xml ({type(exc).__name__}: {exc})") from None
    calc = atoms.calc
    stress = calc.results.get("stress")
    labels = Labels(energy_per_atom=energy / len(atoms))
    if stress is not None:
        labels.stress = np.asarray(stress) / GPa
        labels.hydrostatic_stress = hydrostatic_gpa(stress)
    else:
        log.warning("%s: no stress tensor (ISIF = 0?): hydrostatic stress not labeled", path)
    if calc.kpts:
        eps, occ = _levels(calc.kpts)
        efermi = steps[-1].findtext("dos/i[@name='efermi']")
        try:
            if efermi is not None and efermi.strip():
                labels.vbm, labels.band_gap = fermi_band_edges(eps, float(efermi))
            else:  # no Fermi level written: the ½-occupation rule
                labels.vbm, labels.band_gap = kpoint_band_edges(eps, occ)
        except ValueError as exc:
            raise LabelError(f"{path}: {exc}") from None
        labels.eigenvalues, labels.occupations = eps, occ
    else:
        log.warning("%s: no <eigenvalues>: band gap and VBM not labeled", path)
    return atoms, labels, f"vasp-{version}"


def _levels(kpts: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(n_spins, n_kpoints, n_bands) eigenvalues and occupations from ASE's k-points."""
    n_spins = max(k.s for k in kpts) + 1
    n_k = max(k.k for k in kpts)
    n_b = min(len(k.eps_n) for k in kpts)
    eps = np.zeros((n_spins, n_k, n_b))
    occ = np.zeros((n_spins, n_k, n_b))
    for k in kpts:
        eps[k.s, k.k - 1] = k.eps_n[:n_b]
        occ[k.s, k.k - 1] = k.f_n[:n_b]
    return eps, occ
