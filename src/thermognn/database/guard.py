"""The one check of a study database, made before anything opens it for writing.

:func:`inspect_database` looks at a database file read-only (SQLite ``mode=ro``): a
missing file, a 0-byte file, a file that is not SQLite, an SQLite file that is not an
ASE database and a database written by another program (another ``schema`` in its
metadata) are refused with one line naming the file, and nothing is created or
changed. :func:`open_database` is that check followed by ``ase.db.connect``; every
command that reads a study database (``train``, ``evaluate``, ``predict --db``,
studies) opens it through here, and :class:`~thermognn.database.StudyDatabase` runs
the same check before it writes.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from thermognn.errors import DatabaseError

#: Schema name recorded in the metadata of every thermognn study database.
SCHEMA = "thermognn-study-1"

_SQLITE_MAGIC = b"SQLite format 3\x00"


#: Keys stored as booleans. SQLite stores them as 0/1, but ASE's PostgreSQL backend keeps
#: JSON ``true``/``false``, so there ``labeled=1`` matches no row; see :func:`portable_selection`.
BOOLEAN_KEYS = ("labeled",)


def portable_selection(query: Any) -> Any:
    """An ASE selection that means the same on SQLite and PostgreSQL.

    ``labeled=1`` / ``labeled=0`` (a string or a dict) become ``labeled=True`` / ``False``;
    anything else is returned unchanged.
    """
    if isinstance(query, dict):
        return {
            k: bool(v) if k in BOOLEAN_KEYS and v in (0, 1) and not isinstance(v, bool) else v
            for k, v in query.items()
        }
    if not isinstance(query, str):
        return query
    parts = []
    for part in query.split(","):
        key, op, value = part.partition("=")
        if op and key.strip() in BOOLEAN_KEYS and value.strip() in ("0", "1"):
            part = f"{key.strip()}={value.strip() == '1'}"
        parts.append(part)
    return ",".join(parts)


def is_url(db: str | os.PathLike[str]) -> bool:
    """Whether ``db`` is a server URL (``postgresql://…``) rather than a file path."""
    return "://" in os.fspath(db)


def inspect_database(
    db: str | os.PathLike[str], *, must_exist: bool = True
) -> dict[str, Any] | None:
    """Check a database file without writing to it; return its metadata.

    Parameters
    ----------
    db
        Path of an SQLite file, or a server URL (not inspected: returns ``None``).
    must_exist
        Refuse a missing file (else return ``None`` for it: it will be created).

    Returns
    -------
    dict or None
        The metadata (``{}`` for an ASE database without any), or ``None`` for a URL
        or a missing file.

    Raises
    ------
    DatabaseError
        Missing (with ``must_exist``), a folder, empty (0 bytes), not SQLite, not an
        ASE database, unreadable, or metadata of another schema.
    """
    if is_url(db):
        return None
    path = Path(db)
    if not path.exists():
        if must_exist:
            raise DatabaseError(f"{path}: no such study database")
        return None
    if not path.is_file():
        raise DatabaseError(f"{path}: is a folder, not a study database")
    if path.stat().st_size == 0:
        raise DatabaseError(f"{path}: empty file (0 bytes), not a study database")
    with path.open("rb") as fh:
        if fh.read(16) != _SQLITE_MAGIC:
            raise DatabaseError(f"{path}: not an SQLite database")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master")}
            text = None
            if "information" in tables:
                found = con.execute("SELECT value FROM information WHERE name='metadata'")
                row = found.fetchone()
                text = row[0] if row else None
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise DatabaseError(f"{path}: unreadable SQLite database ({exc})") from None
    if "systems" not in tables:
        raise DatabaseError(f"{path}: an SQLite file but not an ASE database (no 'systems' table)")
    try:
        metadata = json.loads(text) if text else {}
    except json.JSONDecodeError:
        raise DatabaseError(f"{path}: unreadable database metadata") from None
    if not isinstance(metadata, dict):
        raise DatabaseError(f"{path}: unreadable database metadata")
    check_metadata(metadata, str(path))
    return metadata


def check_metadata(metadata: dict[str, Any], where: str, study: str | None = None) -> None:
    """Refuse metadata of another schema, or of another study when ``study`` is given."""
    schema = metadata.get("schema")
    if schema is not None and schema != SCHEMA:
        raise DatabaseError(f"{where}: database schema {schema!r}, not {SCHEMA!r}")
    if study is not None and metadata and metadata.get("study") != study:
        raise DatabaseError(f"{where}: belongs to study {metadata.get('study')!r}, not {study!r}")


def open_database(db: Any, *, study: str | None = None) -> Any:
    """An ASE database opened for reading after :func:`inspect_database` passed.

    Parameters
    ----------
    db
        Path, URL or an open ASE database (returned as it is).
    study
        Study name the database must carry (``None``: any).
    """
    import ase.db
    from ase.db.core import Database

    if isinstance(db, Database):
        return db
    metadata = inspect_database(db)
    if study is not None and metadata is not None:
        check_metadata(metadata, os.fspath(db), study)
    try:
        return ase.db.connect(os.fspath(db), type="db" if not is_url(db) else "extract_from_name")
    except Exception as exc:  # noqa: BLE001 - sqlite3 / psycopg errors
        raise DatabaseError(f"{os.fspath(db)}: cannot open database ({exc})") from None


def select(database: Any, *args: Any, **kwargs: Any) -> list[Any]:
    """``database.select(*args, **kwargs)`` as a list, read over one connection.

    ASE's SQLite backend opens a new connection for every row it converts (to look up
    its external tables) unless a connection is already open: 5,810 rows took 14 s that
    way and 3.7 s over one connection. A database already inside ``with`` is used as is.
    """
    if getattr(database, "connection", "absent") is not None or not hasattr(database, "__enter__"):
        return list(database.select(*args, **kwargs))
    with database:
        return list(database.select(*args, **kwargs))
