"""Rows of a study database → any structure file ASE writes (extxyz for MACE, NequIP …).

Each exported frame carries the row's calculator results (energy in eV, forces in
eV/Å, stress in eV/Å³, ASE sign) as ASE single-point results — extxyz writes energy
and stress in the frame's ``info`` and forces in its ``arrays`` — and every key-value
pair of the row (the four labels ``energy_per_atom`` eV/atom, ``band_gap`` eV, ``vbm``
eV, ``hydrostatic_stress`` GPa; ``material``, ``scheme``, ``temperature`` …) in
``info``, plus ``row_id``. Rows labeled before results were kept carry labels only.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ase import Atoms

from thermognn.database.study import StudyDatabase
from thermognn.errors import ThermognnError

log = logging.getLogger(__name__)


def export_rows(db: StudyDatabase, query: str | None = "labeled=1") -> list[Atoms]:
    """The selected rows as :class:`ase.Atoms` with results and key-value pairs.

    Raises
    ------
    ThermognnError
        For an invalid selection or one that matches no row.
    """
    try:
        rows = list(db.select(query or None))
    except (ValueError, KeyError, TypeError) as exc:
        raise ThermognnError(f"invalid selection {query!r}: {exc}") from None
    if not rows:
        raise ThermognnError(f"{db.url}: selection {query!r} matches no row")
    frames = []
    for row in rows:
        atoms = row.toatoms()
        atoms.info.update(_info(row.key_value_pairs))
        atoms.info["row_id"] = int(row.id)
        frames.append(atoms)
    return frames


def export_structures(
    db: StudyDatabase | str,
    out: str | Path,
    *,
    format: str | None = None,
    query: str | None = "labeled=1",
) -> int:
    """Write the selected rows to ``out`` in any format ASE writes; returns the count.

    Parameters
    ----------
    db
        Study database (object or path/URL).
    out
        Output file; its extension picks the format unless ``format`` is given.
    format
        ASE format name (``extxyz``, ``traj``, ``cif``, ``vasp`` …).
    query
        ASE selection string (default ``labeled=1``; ``None`` = every row).

    Raises
    ------
    ThermognnError
        For an unknown format, or a single-frame format given several rows.
    """
    import ase.io

    if not isinstance(db, StudyDatabase):
        db = StudyDatabase(db, create=False)
    frames = export_rows(db, query)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        ase.io.write(out, frames if len(frames) > 1 else frames[0], format=format)
    except Exception as exc:  # noqa: BLE001 - ASE raises many types for formats
        raise ThermognnError(
            f"{out}: cannot write {len(frames)} rows as {format or out.suffix or '?'} "
            f"({type(exc).__name__}: {exc})"
        ) from None
    log.info("exported %d rows of %s to %s", len(frames), db.url, out)
    return len(frames)


def _info(key_value_pairs: dict[str, Any]) -> dict[str, Any]:
    """Key-value pairs safe for every writer (booleans as 0/1 ints)."""
    return {k: int(v) if isinstance(v, bool) else v for k, v in key_value_pairs.items()}
