"""The study database: one ASE database per study (SQLite file or any ASE URL)."""

from __future__ import annotations

from thermognn.database.study import ROW_KEYS, UNITS, StudyDatabase

__all__ = ["ROW_KEYS", "UNITS", "StudyDatabase"]
