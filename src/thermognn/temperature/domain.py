"""The temperatures a trained model has seen: its training domain, read from its run record.

A run folder holds ``model.json`` (whose ``data`` section names the study database and
the row selection) and ``split.json`` (the database row ids of each split). The training
range of a run is the span of the ``temperature`` keys of its *training* rows; rows
without a temperature (the ``random`` scheme) do not widen it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thermognn.errors import ThermognnError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingDomain:
    """Temperature span (K) of a model's training rows, and where it came from.

    Attributes
    ----------
    t_min, t_max
        Lowest and highest training temperature, K.
    source
        ``"given"`` (an explicit range) or the database the rows were read from.
    n_rows
        Training rows that carried a temperature (0 for a given range).
    schemes
        Sampling schemes of those rows (empty when unknown).
    """

    t_min: float
    t_max: float
    source: str = "given"
    n_rows: int = 0
    schemes: tuple[str, ...] = ()

    def contains(self, temperatures: Sequence[float] | np.ndarray, tol: float = 1e-6) -> np.ndarray:
        """Boolean mask: ``t_min ≤ T ≤ t_max`` (K, with a tolerance of ``tol`` K)."""
        t = np.asarray(temperatures, dtype=float)
        return (t >= self.t_min - tol) & (t <= self.t_max + tol)


def given_domain(train_range: Sequence[float]) -> TrainingDomain:
    """A :class:`TrainingDomain` from an explicit ``(T_min, T_max)`` in K."""
    try:
        lo, hi = (float(t) for t in train_range)
    except (TypeError, ValueError):
        raise ThermognnError(
            f"train_range: expected (T_min, T_max) in K, got {train_range!r}"
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi < lo:
        raise ThermognnError(f"train_range: need 0 ≤ T_min ≤ T_max K, got {lo:g}:{hi:g}")
    return TrainingDomain(lo, hi)


def run_training_domain(run_dir: str | Path) -> TrainingDomain | None:
    """The training temperature span of one run folder, or ``None`` when unknowable.

    Reads the training rows' ids from ``split.json`` and their ``temperature`` keys from
    the database named in ``model.json`` (opened without creating or writing anything;
    a relative path is tried from the working directory, then from the run folder).
    Returns ``None`` (and logs why) when the database is gone, the record predates
    ``split.json``, or no training row has a temperature.
    """
    from thermognn.database import StudyDatabase
    from thermognn.errors import DatabaseError

    run_dir = Path(run_dir)
    try:
        record = json.loads((run_dir / "model.json").read_text())
        split = json.loads((run_dir / "split.json").read_text())
    except (OSError, ValueError) as exc:
        log.warning("%s: no training domain (cannot read model.json/split.json: %s)", run_dir, exc)
        return None
    data = record.get("data") or {}
    db_name = data.get("db")
    train_ids = set((split.get("train") or {}).get("row_id") or [])
    if not db_name or not train_ids:
        log.warning("%s: no training domain (record names no database or training rows)", run_dir)
        return None
    candidates = [Path(db_name), run_dir / db_name] if "://" not in db_name else [db_name]
    path = next((c for c in candidates if "://" in str(c) or Path(c).is_file()), None)
    if path is None:
        log.warning("%s: no training domain (database %s not found)", run_dir, db_name)
        return None
    try:
        db = StudyDatabase(path, create=False)
        rows = [
            row.key_value_pairs
            for row in db.select(data.get("query"), include_data=False)
            if row.id in train_ids and row.key_value_pairs.get("temperature") is not None
        ]
        config = dict(db.metadata.get("config") or {})
    except DatabaseError as exc:
        log.warning("%s: no training domain (%s)", run_dir, exc)
        return None
    if not rows:
        log.warning("%s: no training row carries a temperature", run_dir)
        return None
    temps = [float(kv["temperature"]) for kv in rows]
    for batch in {kv.get("batch") for kv in rows}:
        declared = (config.get(f"sample:{batch}") or {}).get("temperature_range")
        if declared:
            temps += [float(t) for t in declared]
    schemes = tuple(sorted({str(kv.get("scheme", "")) for kv in rows}))
    return TrainingDomain(min(temps), max(temps), str(path), len(rows), schemes)


def ensemble_domain(domains: Sequence[TrainingDomain | None]) -> TrainingDomain | None:
    """The span every model was trained on (intersection); ``None`` if any is unknown."""
    if not domains or any(d is None for d in domains):
        return None
    known = [d for d in domains if d is not None]
    lo, hi = max(d.t_min for d in known), min(d.t_max for d in known)
    if hi < lo:
        raise ThermognnError(
            "models: their training temperature ranges do not overlap "
            + ", ".join(f"{d.t_min:g}–{d.t_max:g} K" for d in known)
        )
    sources = sorted({d.source for d in known})
    schemes = set(known[0].schemes).intersection(*(d.schemes for d in known))
    return TrainingDomain(
        lo, hi, "; ".join(sources), min(d.n_rows for d in known), tuple(sorted(schemes))
    )
