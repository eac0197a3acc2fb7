"""VASP export: one run folder per unlabeled row, ``folders.txt`` and a SLURM job array.

What each folder holds (POSCAR, INCAR, KPOINTS, POTCAR.recipe, row.json) and why is
described in :mod:`thermognn.labels.vasp`; the import side is
:mod:`thermognn.labels.vasp_import`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from thermognn._version import __version__
from thermognn.database import StudyDatabase
from thermognn.errors import DatabaseError, ThermognnError

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


def read_row_file(folder: Path) -> dict[str, Any]:
    """The ``row.json`` record of an exported folder (row id, study, unique id, order)."""
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
            record = read_row_file(folder)
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
