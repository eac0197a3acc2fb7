"""One ASE database per study, with the row record of DESIGN.md §4.

Rows
----
* ``scheme='reference'``: an undisplaced reference supercell.
* sampled rows carry ``parent_id`` (their reference row) and their displacement field
  in ``row.data['displacements']`` (n_atoms × 3, Å).

Key-value pairs (fixed names, see :data:`ROW_KEYS`): ``material``, ``scheme``,
``temperature`` (K), ``amplitude`` (Å, random scheme), ``seed``, ``config_index``,
``batch``, ``parent_id``, ``fc_source``, ``imaginary_policy``, ``frequency_floor``
(THz), ``supercell``, ``labeled``, the four labels (``energy_per_atom`` eV/atom,
``band_gap`` eV, ``vbm`` eV, ``hydrostatic_stress`` GPa = tr(σ)/3, ASE sign: tension
positive), ``labeler``, ``labeler_version`` and, on failure, ``label_error``.
The metadata holds the study name, units and config; a database of another study,
or one without units, is refused. Rows are never deleted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from thermognn._version import __version__
from thermognn.database.guard import (
    SCHEMA,
    check_metadata,
    inspect_database,
    is_url,
    portable_selection,
    select,
)
from thermognn.errors import DatabaseError
from thermognn.labels.base import LABEL_UNITS, Labels

log = logging.getLogger(__name__)

#: Units of every numeric key (stored in the metadata).
UNITS: dict[str, str] = {
    **LABEL_UNITS,
    "temperature": "K",
    "amplitude": "Å",
    "frequency_floor": "THz",
    "min_distance": "Å",
    "displacements": "Å",
    "stress": "GPa (Voigt xx yy zz yz xz xy, ASE sign)",
    "eigenvalues": "eV",
}

ROW_KEYS: tuple[str, ...] = (
    "material",
    "scheme",
    "temperature",
    "amplitude",
    "seed",
    "config_index",
    "batch",
    "parent_id",
    "fc_source",
    "imaginary_policy",
    "frequency_floor",
    "supercell",
    "br_fraction",
    "labeled",
    *LABEL_UNITS,
    "labeler",
    "labeler_version",
    "label_error",
)


class StudyDatabase:
    """A study's ASE database.

    Parameters
    ----------
    url
        Path of an SQLite file (created if missing) or any URL ``ase.db.connect``
        accepts (e.g. ``postgresql://user:pw@host/db``).
    study
        Study name. A new database records it; an existing one must carry the same
        name (``None`` accepts any).
    create
        Create the database if it does not exist (else :class:`DatabaseError`).
    """

    def __init__(self, url: str | Path, *, study: str | None = None, create: bool = True) -> None:
        import ase.db

        self.url = str(url)
        is_file = not is_url(self.url)
        found = inspect_database(self.url, must_exist=not create)  # read-only, before writing
        if found is not None:
            check_metadata(found, self.url, study)
        if is_file:
            Path(self.url).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.ase = ase.db.connect(self.url, type="db" if is_file else "extract_from_name")
            meta = dict(self.ase.metadata)
        except Exception as exc:  # sqlite3 / psycopg errors
            raise DatabaseError(f"{self.url}: cannot open database ({exc})") from exc
        if not meta:
            if is_file and found is not None and self.ase.count() > 0:
                raise DatabaseError(f"{self.url}: not a thermognn study database (no metadata)")
            meta = {
                "schema": SCHEMA,
                "study": study or "study",
                "units": UNITS,
                "thermognn_version": __version__,
                "config": {},
            }
            self.ase.metadata = meta
        elif meta.get("schema") != SCHEMA or "units" not in meta:
            raise DatabaseError(
                f"{self.url}: not a thermognn study database (schema/units missing)"
            )
        else:
            check_metadata(meta, self.url, study)
        self.metadata = meta

    # ------------------------------------------------------------------ metadata
    @property
    def study(self) -> str:
        return str(self.metadata.get("study"))

    def update_config(self, section: str, values: dict[str, Any]) -> None:
        """Record (merge) a stage's configuration in the metadata."""
        meta = dict(self.ase.metadata)
        config = dict(meta.get("config", {}))
        config[section] = {**config.get(section, {}), **values}
        meta["config"] = config
        self.ase.metadata = meta
        self.metadata = meta

    @contextmanager
    def transaction(self) -> Iterator[StudyDatabase]:
        """One connection and one commit for every read and write inside.

        All or nothing: an exception inside rolls the block's writes back. Nested
        blocks join the outer one. ASE's SQLite backend otherwise opens a connection
        and commits for every row it reads or writes.
        """
        if getattr(self.ase, "connection", None) is not None:
            yield self
            return
        with self.ase:
            yield self

    # ------------------------------------------------------------------ writing
    def add_reference(self, atoms: Atoms, material: str, **record: Any) -> int:
        """Add (or find) an undisplaced reference supercell; returns its row id."""
        key = _structure_key(atoms)
        for row in self.ase.select(scheme="reference", material=material, structure_key=key):
            return int(row.id)
        return int(
            self.ase.write(
                atoms,
                key_value_pairs=_clean(
                    {
                        "material": material,
                        "scheme": "reference",
                        "labeled": False,
                        "structure_key": key,
                        **record,
                    }
                ),
            )
        )

    def add_configuration(
        self, atoms: Atoms, displacements: np.ndarray, record: dict[str, Any]
    ) -> int:
        """Add one sampled configuration with its record and displacement field."""
        if "parent_id" not in record or "scheme" not in record or "material" not in record:
            raise DatabaseError("a sampled row needs material, scheme and parent_id")
        kv = _clean({**record, "labeled": False})
        return int(
            self.ase.write(
                atoms,
                key_value_pairs=kv,
                data={"displacements": np.asarray(displacements, dtype=float)},
            )
        )

    def existing_indices(self, batch: str) -> set[int]:
        """``config_index`` values already written for a sampling batch."""
        return {int(r.config_index) for r in self.ase.select(batch=batch)}

    def write_labels(self, row_id: int, labels: Labels, labeler: str, version: str) -> None:
        """Store labels on a row (and clear any earlier ``label_error``).

        The row keeps the calculator's results as ASE single-point results (energy,
        forces and stress where the labeler gave them, so ``ase db`` and
        ``ase.io.read('study.db@…')`` see them), the four labels as key-value pairs,
        and the stress (GPa) and eigenvalues (eV) in ``data``. The row's atoms, unique
        id and creation time are kept.
        """
        from ase.calculators.singlepoint import SinglePointCalculator
        from ase.db.row import AtomsRow
        from ase.units import GPa

        data: dict[str, Any] = {}
        if labels.stress is not None:
            data["stress"] = np.asarray(labels.stress, dtype=float)
        if labels.eigenvalues is not None:
            data["eigenvalues"] = np.asarray(labels.eigenvalues, dtype=np.float32)
        old = self.ase.get(id=row_id)
        atoms = old.toatoms()
        n = len(atoms)
        energy = labels.energy if labels.energy is not None else labels.energy_per_atom * n
        results: dict[str, Any] = {"energy": float(energy)}
        if labels.forces is not None:
            results["forces"] = np.asarray(labels.forces, dtype=float).reshape(n, 3)
        if labels.stress is not None:
            results["stress"] = np.asarray(labels.stress, dtype=float) * GPa
        atoms.calc = SinglePointCalculator(atoms, **results)
        atoms.calc.name = labeler
        row: Any = AtomsRow(atoms)
        row.unique_id, row.ctime, row.user = old.unique_id, old.ctime, old.get("user")
        kvp = {k: v for k, v in old.key_value_pairs.items() if k != "label_error"}
        kvp.update(labeled=True, labeler=labeler, labeler_version=version, **labels.scalars())
        self.ase.write(row, key_value_pairs=kvp, data={**old.data, **data}, id=row_id)

    def write_failure(self, row_id: int, message: str, labeler: str, version: str) -> None:
        """Record a labeling failure on the row (the row stays, unlabeled)."""
        self.ase.update(
            row_id,
            labeled=False,
            labeler=labeler,
            labeler_version=version,
            label_error=" ".join(str(message).split())[:500],
        )

    # ------------------------------------------------------------------ reading
    def select(self, query: str | dict[str, Any] | None = None, **kwargs: Any) -> Iterator[Any]:
        """ASE rows matching an ASE selection string or dict (plus keyword filters)."""
        if isinstance(query, dict):
            kwargs = {**query, **kwargs}
            query = None
        return iter(select(self.ase, portable_selection(query), **portable_selection(kwargs)))

    def unlabeled_ids(self, *, retry_failed: bool = False, query: str | None = None) -> list[int]:
        """Ids of rows still to label (failed rows only with ``retry_failed``)."""
        ids = []
        for row in self.ase.select(query, labeled=False):
            if "label_error" in row.key_value_pairs and not retry_failed:
                continue
            ids.append(int(row.id))
        return ids

    def counts(self) -> list[dict[str, Any]]:
        """Rows per (material, sampling set, scheme): total, labeled, failed, pending.

        A row without a ``sample_set`` key belongs to the set named after its scheme.
        """
        table: Counter[tuple[str, str, str, str]] = Counter()
        for row in self.ase.select(include_data=False):
            kv = row.key_value_pairs
            state = (
                "labeled" if kv.get("labeled") else ("failed" if "label_error" in kv else "pending")
            )
            scheme = kv.get("scheme", "?")
            table[(kv.get("material", "?"), kv.get("sample_set", scheme), scheme, state)] += 1
        groups = sorted({(m, ss, s) for m, ss, s, _ in table})
        return [
            {
                "material": m,
                "sample_set": ss,
                "scheme": s,
                "total": sum(table[(m, ss, s, k)] for k in ("labeled", "failed", "pending")),
                "labeled": table[(m, ss, s, "labeled")],
                "failed": table[(m, ss, s, "failed")],
                "pending": table[(m, ss, s, "pending")],
            }
            for m, ss, s in groups
        ]

    def __len__(self) -> int:
        return int(self.ase.count())


def _structure_key(atoms: Atoms) -> str:
    import hashlib

    payload = np.concatenate(
        [
            atoms.numbers.astype(float),
            np.round(atoms.positions, 5).ravel(),
            np.round(atoms.cell.array, 5).ravel(),
        ]
    )
    return hashlib.sha1(payload.tobytes()).hexdigest()[:16]


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """Key-value pairs ASE accepts: drop ``None``, cast numpy scalars."""
    out: dict[str, Any] = {}
    for k, v in record.items():
        if v is None:
            continue
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, (tuple, list)):
            v = "x".join(str(x) for x in v)
        out[k] = v
    return out
