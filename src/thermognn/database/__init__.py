"""The study database: one ASE database per study (SQLite file or any ASE URL)."""

from __future__ import annotations

from thermognn.database.guard import inspect_database, open_database
from thermognn.database.study import ROW_KEYS, UNITS, StudyDatabase

__all__ = ["ROW_KEYS", "UNITS", "StudyDatabase", "inspect_database", "open_database"]
