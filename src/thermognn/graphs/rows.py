"""Reading a selection of study-database rows for the graph dataset.

One :class:`SelectedRow` per row: id, unique id, modification time, ``material``,
``scheme``, ``parent_id`` and the requested label values (NaN when missing), with the
ASE row itself for its atoms.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.database.guard import portable_selection, select
from thermognn.errors import DatabaseError
from thermognn.graphs.neighbours import GraphSettingsError
from thermognn.labels.base import LABEL_UNITS

#: Parent id stored for rows without a ``parent_id`` key (the reference rows).
NO_PARENT = -1

_MAX_LISTED_IDS = 10


@dataclass(frozen=True)
class SelectedRow:
    """What the dataset needs from one database row."""

    id: int
    unique_id: str
    mtime: float
    material: str
    scheme: str
    parent_id: int
    values: tuple[float, ...]
    row: Any

    @property
    def complete(self) -> bool:
        return all(math.isfinite(v) for v in self.values)


def connect(db: Any) -> tuple[Any, Path | None]:
    """Open the database (checked read-only first, see :mod:`thermognn.database.guard`).

    Returns it and its local file path (``None`` if not a file).
    """
    from ase.db.core import Database

    from thermognn.database.guard import is_url, open_database

    if isinstance(db, Database):
        filename = getattr(db, "filename", None)
        path = Path(filename) if isinstance(filename, str | os.PathLike) else None
        return db, path if path is not None and path.is_file() else None
    database = open_database(db)
    return database, None if is_url(db) else Path(os.fspath(db))


def select_rows(database: Any, query: Any, label_names: tuple[str, ...]) -> list[SelectedRow]:
    """Read the selected rows (atoms, bookkeeping and label values), sorted by id."""
    if query is None:
        args: tuple[Any, ...] = ()
        kwargs: dict[str, Any] = {}
    elif isinstance(query, str):
        args, kwargs = (query,), {}
    elif isinstance(query, Mapping):
        args, kwargs = (), dict(query)
    else:
        raise GraphSettingsError(f"query must be a dict, a selection string or None, got {query!r}")
    try:
        args = tuple(portable_selection(a) for a in args)
        kwargs = portable_selection(kwargs)
        raw = select(database, *args, include_data=False, **kwargs)
    except (ValueError, KeyError, TypeError) as err:
        raise DatabaseError(f"invalid database selection {describe_query(query)}: {err}") from err
    if not raw:
        raise DatabaseError(f"database selection {describe_query(query)} matches no row")
    absent = [
        n for n in label_names if n not in LABEL_UNITS and not any(_has_key(row, n) for row in raw)
    ]
    if absent:
        numeric = sorted(
            {
                k
                for row in raw
                for k, v in row.key_value_pairs.items()
                if isinstance(v, float) and not k.endswith("_id")
            }
        )
        raise DatabaseError(
            f"label: unknown {'/'.join(absent)} (no row of selection {describe_query(query)} "
            f"has it); numeric keys here: {', '.join(numeric) or 'none'}"
        )
    rows = [_read_row(row, label_names) for row in raw]
    return sorted(rows, key=lambda row: row.id)


def _has_key(row: Any, name: str) -> bool:
    return name in row.key_value_pairs or getattr(row, name, None) is not None


def _read_row(row: Any, label_names: tuple[str, ...]) -> SelectedRow:
    """One database row → :class:`SelectedRow` (missing labels as NaN)."""
    values = []
    for name in label_names:
        value = row.key_value_pairs.get(name, getattr(row, name, None))
        if value is None:
            values.append(math.nan)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise DatabaseError(f"row {row.id}: label {name} is {value!r}, not a number")
        values.append(float(value))
    parent = row.key_value_pairs.get("parent_id")
    return SelectedRow(
        id=int(row.id),
        unique_id=str(row.get("unique_id", "")),
        mtime=float(row.get("mtime", 0.0)),
        material=str(row.key_value_pairs.get("material", "")),
        scheme=str(row.key_value_pairs.get("scheme", "")),
        parent_id=NO_PARENT if parent is None else int(parent),
        values=tuple(values),
        row=row,
    )


def describe_query(query: Any) -> str:
    return "(all rows)" if query is None else repr(query)


def id_list(ids: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:_MAX_LISTED_IDS])
    return shown + (
        f", … ({len(ids) - _MAX_LISTED_IDS} more)" if len(ids) > _MAX_LISTED_IDS else ""
    )
