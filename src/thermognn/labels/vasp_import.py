"""VASP import: label the rows of a study database from the run folders of an export.

Every folder's ``row.json`` is checked against the database before anything is
written; see :mod:`thermognn.labels.vasp` for what is stored and how failures are kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from thermognn.database import StudyDatabase
from thermognn.errors import DatabaseError, LabelError, ThermognnError
from thermognn.labels.vasp_export import ROW_FILE, VASPRUN, read_row_file
from thermognn.labels.vasprun import read_vasprun

log = logging.getLogger(__name__)


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
    incomplete
        Row id → the labels its run could not give (imported rows; e.g. no
        ``<eigenvalues>``: no band gap or VBM).
    """

    imported: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    missing: dict[int, Path] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)
    incomplete: dict[int, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lacking = f", {len(self.incomplete)} lacking labels" if self.incomplete else ""
        return (
            f"{len(self.imported)} imported{lacking}, {len(self.failed)} failed, "
            f"{len(self.missing)} without vasprun.xml, {len(self.skipped)} already labeled"
        )


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
    return sorted(folders, key=lambda p: int(read_row_file(p)["row_id"])), False


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
        No vasprun.xml in the one folder named, or in any of the exported folders, or
        every run read failed; nothing is written then. When only some runs fail, their
        rows get a ``label_error`` and the others are imported.
    """
    if not isinstance(db, StudyDatabase):
        db = StudyDatabase(db, create=False)
    path = Path(out_dir)
    folders, explicit = _export_folders(path)
    checked = [(folder, *_matching_row(db, folder)) for folder in folders]  # all, before writing
    summary = ImportSummary()
    results: list[tuple[int, Any, str]] = []  # (row id, Labels or error message, version)
    for folder, record, row in checked:  # read every run before writing anything
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
        except LabelError as exc:
            summary.failed[row.id] = str(exc)
            results.append((row.id, str(exc), version))
            continue
        lacking = [name for name in ("band_gap", "vbm") if getattr(labels, name) is None]
        if labels.hydrostatic_stress is None:
            lacking.append("hydrostatic_stress")
        if lacking:
            why = "no <eigenvalues>" if "band_gap" in lacking else "no stress tensor"
            summary.incomplete[row.id] = f"{vasprun}: {why}; {', '.join(lacking)} not labeled"
        summary.imported.append(row.id)
        results.append((row.id, labels, version))
    _refuse_if_nothing_read(path, summary)
    for row_id, outcome, version in results:
        if isinstance(outcome, str):
            db.write_failure(row_id, outcome, labeler_name, version)
            log.warning("row %d: %s", row_id, outcome)
        else:
            db.write_labels(row_id, outcome, labeler_name, version)
    for row_id, note in summary.incomplete.items():
        log.warning("row %d: %s", row_id, note)
    db.update_config("label", {"labeler": labeler_name, "vasp_import_dir": str(path)})
    log.info("VASP import from %s: %s", path, summary)
    return summary


def _refuse_if_nothing_read(path: Path, summary: ImportSummary) -> None:
    """No run read and none labeled before: one error line, nothing written."""
    if summary.imported or summary.skipped:
        return
    if summary.failed:
        row_id, first = next(iter(summary.failed.items()))
        raise LabelError(
            f"{path}: all {len(summary.failed)} VASP runs failed, nothing imported "
            f"(row {row_id}: {first})"
        )
    if summary.missing:
        first_folder = next(iter(summary.missing.values()))
        raise LabelError(
            f"{path}: no {VASPRUN} in any of the {len(summary.missing)} exported folders "
            f"(e.g. {first_folder}); have the VASP jobs run?"
        )


def _matching_row(db: StudyDatabase, folder: Path) -> tuple[dict[str, Any], Any]:
    record = read_row_file(folder)
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
