"""VASP labels for production: export one run folder per unlabeled row, import vasprun.xml.

Export writes, for each row still to label, ``OUT/row-<id>/`` with

* ``POSCAR`` — the configuration, direct coordinates, atoms grouped by species in
  alphabetical order (the permutation is kept in ``row.json``);
* ``INCAR`` — a single point with stress (PBEsol, ``GGA = PS``, ENCUT 700 eV as the
  paper, ``ISMEAR = 0``, ``SIGMA = 0.01``, ``EDIFF = 1E-6``, ``IBRION = -1``,
  ``NSW = 0``, ``ISIF = 2``, ``LREAL = Auto``); any key can be overridden;
* ``KPOINTS`` — a Γ-centred mesh, by default the paper's 12×12×12 for the 5-atom cell
  scaled to the supercell: ``ceil(12 / n_rep)`` per direction (6×6×6 for 2×2×2);
* ``POTCAR.recipe`` — which POTCAR to use per species, in POSCAR order (POTCARs are
  licensed and cannot be shipped); the job script assembles ``POTCAR`` from
  ``$VASP_PP_PATH`` with it;
* ``row.json`` — row id, study name and the row's ``unique_id``;

and, at the top, ``folders.txt`` plus a SLURM job-array script ``submit.slurm`` (one
array task per folder; a task whose folder already holds a complete vasprun.xml exits
at once). Re-exporting keeps folders whose ``row.json`` carries the same unique id.

Import reads each folder's ``vasprun.xml`` with ASE and stores the four labels:

* ``energy_per_atom`` — ASE's potential energy of the run (VASP's energy(σ→0) of the
  last ionic step, the PV term removed) divided by the number of atoms, eV/atom;
* ``band_gap``, ``vbm`` — from the eigenvalues and occupations of every k-point and
  spin of the last step: levels with occupation ≥ ½ of the maximum are occupied;
  VBM = highest occupied, CBM = lowest unoccupied, gap = max(CBM − VBM, 0), eV;
* ``hydrostatic_stress`` — tr(σ)/3 in GPa with ASE's sign. VASP writes the stress in
  kB with the sign of a pressure (positive = compressed, the cell wants to expand);
  ASE's reader multiplies it by −0.1 GPa/kB (``ase.io.vasp.atoms_from_step``), so
  +10 kB on the diagonal of vasprun.xml is stored as −1 GPa.

A missing vasprun.xml leaves the row unlabeled and is reported; a truncated or
unparseable one, an unconverged electronic loop or a structure that is not the row's
becomes a ``label_error`` row naming the file. Folders exported from another
database (unique ids that do not match) are refused before anything is written.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from thermognn._version import __version__
from thermognn.database import StudyDatabase
from thermognn.errors import DatabaseError, LabelError, ThermognnError
from thermognn.labels.base import Labels, hydrostatic_gpa

log = logging.getLogger(__name__)

#: INCAR of a PBEsol single point with stress (ENCUT as the paper).
DEFAULT_INCAR: dict[str, Any] = {
    "PREC": "Accurate",
    "GGA": "PS",
    "ENCUT": 700,
    "EDIFF": 1e-6,
    "NELM": 200,
    "ISMEAR": 0,
    "SIGMA": 0.01,
    "ISPIN": 1,
    "IBRION": -1,
    "NSW": 0,
    "ISIF": 2,
    "LREAL": "Auto",
    "LWAVE": False,
    "LCHARG": False,
}

#: The paper's k-mesh for the 5-atom cubic cell, scaled by the supercell repetition.
PAPER_KMESH = 12
#: k-point density (mesh × lattice length, Å) of the paper's mesh, for rows without a
#: ``supercell`` key: 12 divisions for a = 4.793 Å.
KPOINT_DENSITY = 12 * 4.793
#: POTCAR family the recipe points into (PBEsol runs use the PBE PAW potentials).
POTCAR_FAMILY = "potpaw_PBE"
DEFAULT_SLURM: dict[str, str] = {
    "job-name": "thermognn-vasp",
    "nodes": "1",
    "ntasks-per-node": "32",
    "time": "04:00:00",
    "output": "slurm-%A_%a.out",
}
ROW_FILE = "row.json"
VASPRUN = "vasprun.xml"


@dataclass
class ImportSummary:
    """What an import did.

    Attributes
    ----------
    imported
        Row ids labeled from their vasprun.xml.
    failed
        Row id → ``label_error`` message written.
    missing
        Row id → folder without a vasprun.xml (row left as it was).
    skipped
        Row ids already labeled (not overwritten).
    """

    imported: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    missing: dict[int, Path] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{len(self.imported)} imported, {len(self.failed)} failed, "
            f"{len(self.missing)} without vasprun.xml, {len(self.skipped)} already labeled"
        )


# ---------------------------------------------------------------------- export
def kpoint_mesh(atoms: Atoms, supercell: str | None = None) -> tuple[int, int, int]:
    """Γ-centred mesh for a row: ``ceil(12 / n)`` per supercell repetition ``n``.

    Parameters
    ----------
    atoms
        The configuration (used when ``supercell`` is unknown: then the mesh keeps the
        paper's density, ``ceil(57.5 Å / |a_i|)``).
    supercell
        The row's ``supercell`` key, e.g. ``"2x2x2"``.
    """
    if supercell:
        try:
            reps = [int(x) for x in str(supercell).split("x")]
        except ValueError:
            reps = []
        if len(reps) == 3 and min(reps) >= 1:
            return tuple(max(1, math.ceil(PAPER_KMESH / n)) for n in reps)  # type: ignore[return-value]
    lengths = atoms.cell.lengths()
    return tuple(max(1, math.ceil(KPOINT_DENSITY / a)) for a in lengths)  # type: ignore[return-value]


def incar_text(settings: Mapping[str, Any], title: str) -> str:
    """INCAR file text; booleans as ``.TRUE.``/``.FALSE.``."""

    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return ".TRUE." if v else ".FALSE."
        if isinstance(v, float):
            return f"{v:.6G}"
        return str(v)

    lines = [f"SYSTEM = {title}"]
    lines += [f"{k} = {fmt(v)}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


def kpoints_text(mesh: Iterable[int]) -> str:
    """KPOINTS text of a Γ-centred automatic mesh."""
    m = " ".join(str(int(n)) for n in mesh)
    return f"Gamma-centred mesh {m} (thermognn)\n0\nGamma\n{m}\n0 0 0\n"


def _merged_incar(incar: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = dict(DEFAULT_INCAR)
    for key, value in (incar or {}).items():
        key = key.strip().upper()
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _sorted_by_species(atoms: Atoms) -> tuple[Atoms, np.ndarray, list[str]]:
    """Atoms grouped by species (alphabetical, stable), the permutation, the species."""
    symbols = np.array(atoms.get_chemical_symbols())
    order = np.argsort(symbols, kind="stable")
    species = list(dict.fromkeys(symbols[order].tolist()))
    return atoms[order], order, species


def _potcar_recipe(species: list[str], potcar_map: Mapping[str, str]) -> str:
    lines = [
        "# POTCAR recipe (POTCARs are licensed: not shipped). One line per species, in",
        "# POSCAR order: species and path below $VASP_PP_PATH. submit.slurm builds POTCAR:",
        "#   cat "
        + " ".join(f"$VASP_PP_PATH/{POTCAR_FAMILY}/{potcar_map.get(s, s)}/POTCAR" for s in species)
        + " > POTCAR",
    ]
    lines += [f"{s} {POTCAR_FAMILY}/{potcar_map.get(s, s)}/POTCAR" for s in species]
    return "\n".join(lines) + "\n"


def slurm_script(n_folders: int, options: Mapping[str, str], vasp_command: str) -> str:
    """SLURM job-array script: task i runs VASP in line i+1 of ``folders.txt``."""
    header = "\n".join(f"#SBATCH --{k}={v}" for k, v in options.items())
    return f"""#!/bin/bash
#SBATCH --array=0-{n_folders - 1}
{header}
# Written by thermognn {__version__}: one VASP single point per folder of folders.txt.
# Submit from this folder (sbatch submit.slurm); VASP_PP_PATH must hold {POTCAR_FAMILY}/.
# Then: thermognn vasp import --db STUDY.db --dir <this folder>
set -euo pipefail
cd "${{SLURM_SUBMIT_DIR:-.}}"
[ -f folders.txt ] || {{ echo "run sbatch from the folder holding folders.txt" >&2; exit 1; }}
folder=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" folders.txt)
cd "$folder"
if [ -f {VASPRUN} ] && grep -q "</modeling>" {VASPRUN}; then
    echo "$folder: {VASPRUN} complete, skipped"
    exit 0
fi
if [ ! -f POTCAR ]; then
    : "${{VASP_PP_PATH:?set VASP_PP_PATH to the folder holding {POTCAR_FAMILY}/}}"
    grep -v '^#' POTCAR.recipe | awk 'NF {{print ENVIRON["VASP_PP_PATH"] "/" $2}}' \\
        | xargs cat > POTCAR
fi
{vasp_command} > vasp.out 2>&1
"""


def _read_row_file(folder: Path) -> dict[str, Any]:
    path = folder / ROW_FILE
    try:
        record = json.loads(path.read_text())
        int(record["row_id"]), str(record["unique_id"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatabaseError(
            f"{path}: unreadable export record ({type(exc).__name__}: {exc})"
        ) from None
    return record


def export_vasp(
    db: StudyDatabase | str | Path,
    out_dir: str | Path,
    *,
    query: str | None = None,
    incar: Mapping[str, Any] | None = None,
    kpoints: tuple[int, int, int] | None = None,
    potcar_map: Mapping[str, str] | None = None,
    retry_failed: bool = False,
    slurm: Mapping[str, str] | None = None,
    vasp_command: str = "srun vasp_std",
) -> list[Path]:
    """Write a VASP run folder per unlabeled row, ``folders.txt`` and ``submit.slurm``.

    Parameters
    ----------
    db
        Study database (object or path/URL).
    out_dir
        Export folder; created if missing.
    query
        ASE selection restricting the rows (e.g. ``"scheme=phonon"``).
    incar
        INCAR keys overriding :data:`DEFAULT_INCAR` (a value ``None`` removes a key).
    kpoints
        Γ-centred mesh for every row; default per row from :func:`kpoint_mesh`.
    potcar_map
        Species → POTCAR name (e.g. ``{"Ag": "Ag_pv"}``); default the element itself.
    retry_failed
        Also export rows whose labeling failed before.
    slurm
        ``#SBATCH`` options overriding :data:`DEFAULT_SLURM` (e.g. ``{"time": "1:00:00"}``).
    vasp_command
        The line that runs VASP inside a folder.

    Returns
    -------
    list of Path
        The folders of the rows to run, in ``folders.txt`` order (new and kept ones).

    Raises
    ------
    DatabaseError
        When a folder ``row-<id>`` already holds another database's row.
    """
    if not isinstance(db, StudyDatabase):
        db = StudyDatabase(db, create=False)
    if kpoints is not None and (len(kpoints) != 3 or min(kpoints) < 1):
        raise ThermognnError(f"k-point mesh must be three integers ≥ 1, got {kpoints}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = _merged_incar(incar)
    potcars = dict(potcar_map or {})
    folders: list[Path] = []
    kept = 0
    for row_id in db.unlabeled_ids(retry_failed=retry_failed, query=query):
        row = db.ase.get(id=row_id)
        folder = out / f"row-{row_id}"
        if (folder / ROW_FILE).is_file():
            record = _read_row_file(folder)
            if record["unique_id"] != row.unique_id or int(record["row_id"]) != row_id:
                raise DatabaseError(
                    f"{folder}: holds row {record['row_id']} (unique_id {record['unique_id']}) "
                    f"of another database, not row {row_id} of {db.url}; export elsewhere"
                )
            kept += 1
        else:
            _write_folder(folder, row, db.study, settings, kpoints, potcars)
        folders.append(folder)
    names = [f.name for f in folders]
    (out / "folders.txt").write_text("".join(f"{n}\n" for n in names))
    script = out / "submit.slurm"
    if folders:
        script.write_text(
            slurm_script(len(folders), {**DEFAULT_SLURM, **(slurm or {})}, vasp_command)
        )
    elif script.exists():
        script.unlink()  # generated file; an empty array cannot be submitted
    db.update_config(
        "vasp",
        {
            "incar": settings,
            "kpoints": list(kpoints) if kpoints else "auto",
            "potcar_map": potcars,
            "export_dir": str(out),
        },
    )
    log.info("VASP export to %s: %d folders (%d kept from before)", out, len(folders), kept)
    return folders


def _write_folder(
    folder: Path,
    row: Any,
    study: str,
    settings: dict[str, Any],
    kpoints: tuple[int, int, int] | None,
    potcars: dict[str, str],
) -> None:
    from ase.io import write

    atoms = row.toatoms()
    ordered, order, species = _sorted_by_species(atoms)
    mesh = tuple(kpoints) if kpoints else kpoint_mesh(atoms, row.key_value_pairs.get("supercell"))
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "POSCAR", ordered, format="vasp", direct=True)
    (folder / "INCAR").write_text(incar_text(settings, f"thermognn {study} row {row.id}"))
    (folder / "KPOINTS").write_text(kpoints_text(mesh))
    (folder / "POTCAR.recipe").write_text(_potcar_recipe(species, potcars))
    record = {
        "row_id": int(row.id),
        "study": study,
        "unique_id": row.unique_id,
        "formula": atoms.get_chemical_formula(),
        "natoms": len(atoms),
        "species": species,
        "order": order.tolist(),
        "kpoints": list(mesh),
        "thermognn_version": __version__,
    }
    (folder / ROW_FILE).write_text(json.dumps(record, indent=2))  # last: marks it complete


# ---------------------------------------------------------------------- import
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
        docstring) and the labeler version (``vasp-<version>``).

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
        try:
            labels.vbm, labels.band_gap = kpoint_band_edges(eps, occ)
        except ValueError as exc:
            raise LabelError(f"{path}: {exc}") from None
        labels.eigenvalues, labels.occupations = eps, occ
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


def _check_structure(atoms: Atoms, row: Any, record: dict[str, Any], path: Path) -> None:
    """The run's structure is the exported row's (same species and sites)."""
    expected = row.toatoms()[np.asarray(record.get("order", range(row.natoms)))]
    if len(atoms) != len(expected) or list(atoms.symbols) != list(expected.symbols):
        raise LabelError(
            f"{path}: structure {atoms.get_chemical_formula()} is not row {row.id}'s "
            f"{expected.get_chemical_formula()}"
        )
    diff = atoms.get_scaled_positions(wrap=False) - expected.get_scaled_positions(wrap=False)
    diff -= np.rint(diff)
    shift = float(np.abs(diff @ np.asarray(expected.cell)).max())
    if shift > 1e-3 or not np.allclose(atoms.cell.array, expected.cell.array, atol=1e-4):
        raise LabelError(
            f"{path}: final structure differs from row {row.id} (up to {shift:.3g} Å): "
            "not a single point of this configuration"
        )


def _export_folders(path: Path) -> tuple[list[Path], bool]:
    if (path / ROW_FILE).is_file():
        return [path], True
    if not path.is_dir():
        raise ThermognnError(f"{path}: no such export folder")
    folders = [p.parent for p in path.glob(f"row-*/{ROW_FILE}")]
    if not folders:
        raise ThermognnError(f"{path}: no exported VASP folders (row-*/{ROW_FILE})")
    return sorted(folders, key=lambda p: int(_read_row_file(p)["row_id"])), False


def import_vasp(
    db: StudyDatabase | str | Path,
    out_dir: str | Path,
    *,
    labeler_name: str = "vasp-pbesol",
    overwrite: bool = False,
) -> ImportSummary:
    """Label the rows of ``db`` from the finished runs of an export folder.

    Parameters
    ----------
    db
        The study database the folders were exported from.
    out_dir
        The export folder (all its ``row-*`` folders), or one ``row-<id>`` folder.
    labeler_name
        Stored as the rows' ``labeler``; the version is VASP's (``vasp-6.4.2``).
    overwrite
        Also re-label rows that are labeled already.

    Returns
    -------
    ImportSummary

    Raises
    ------
    DatabaseError
        A folder's ``row.json`` does not match the database (another study, another
        database, unknown row); nothing is written then.
    LabelError
        No vasprun.xml in the one folder named, or in any of the exported folders.
    """
    if not isinstance(db, StudyDatabase):
        db = StudyDatabase(db, create=False)
    path = Path(out_dir)
    folders, explicit = _export_folders(path)
    checked = [(folder, *_matching_row(db, folder)) for folder in folders]  # all, before writing
    summary = ImportSummary()
    for folder, record, row in checked:
        if row.get("labeled") and not overwrite:
            summary.skipped.append(row.id)
            continue
        vasprun = folder / VASPRUN
        if not vasprun.is_file():
            if explicit:
                raise LabelError(f"{folder}: no {VASPRUN} (has the VASP job run?)")
            summary.missing[row.id] = folder
            continue
        version = "unknown"
        try:
            atoms, labels, version = read_vasprun(vasprun)
            _check_structure(atoms, row, record, vasprun)
            db.write_labels(row.id, labels, labeler_name, version)
        except LabelError as exc:
            db.write_failure(row.id, str(exc), labeler_name, version)
            summary.failed[row.id] = str(exc)
            log.warning("row %d: %s", row.id, exc)
            continue
        summary.imported.append(row.id)
    if summary.missing and not (summary.imported or summary.failed or summary.skipped):
        first = next(iter(summary.missing.values()))
        raise LabelError(
            f"{path}: no {VASPRUN} in any of the {len(summary.missing)} exported folders "
            f"(e.g. {first}); have the VASP jobs run?"
        )
    db.update_config("label", {"labeler": labeler_name, "vasp_import_dir": str(path)})
    log.info("VASP import from %s: %s", path, summary)
    return summary


def _matching_row(db: StudyDatabase, folder: Path) -> tuple[dict[str, Any], Any]:
    record = _read_row_file(folder)
    row_id = int(record["row_id"])
    if record.get("study") not in (None, db.study):
        raise DatabaseError(
            f"{folder}: exported from study {record.get('study')!r}, not {db.study!r} ({db.url})"
        )
    try:
        row = db.ase.get(id=row_id)
    except KeyError:
        raise DatabaseError(f"{folder}: row {row_id} is not in {db.url}") from None
    if row.unique_id != record["unique_id"]:
        raise DatabaseError(
            f"{folder}: exported from another database (unique_id {record['unique_id']} is not "
            f"row {row_id}'s {row.unique_id} in {db.url})"
        )
    return record, row
