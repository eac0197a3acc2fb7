"""Label the unlabeled rows of a study database, in parallel on Dask, resumably.

Only the client writes the database, each task's rows in one transaction as the task
returns, so a run killed at any moment loses at most the configurations in flight; re-running skips labeled
rows (and rows that failed, unless ``retry_failed``). Calculator errors (SCF not
converged, unknown element, NaN) become ``label_error`` rows, never a crashed run.

Each worker process builds its labeler once (:func:`cached_labeler`) and keeps it for
every task: a calculator's set-up (CHGNet's weights, a tblite calculator, a DFT
code's start-up) is paid once per worker, and the xTB labeler starts each SCF from the
nearest converged result. Rows travel in batches (``batch_size`` per task, rows of
one parent together) so consecutive cells of one worker are neighbours.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thermognn.database import StudyDatabase
from thermognn.errors import LabelError

log = logging.getLogger(__name__)


@dataclass
class LabelSummary:
    """What a labeling run did."""

    labeled: int = 0
    failed: int = 0
    remaining: int = 0
    seconds: float = 0.0
    workers: int = 0
    errors: dict[int, str] = field(default_factory=dict)
    #: Seconds the workers spent labeling (summed over rows): with ``seconds`` and
    #: ``workers`` it gives the workers' utilisation, apart from the speed of one label.
    compute_seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Configurations per second."""
        return (self.labeled + self.failed) / self.seconds if self.seconds > 0 else 0.0


#: Labelers built in this process, by (thread, name, options): one per worker, reused.
_LABELERS: dict[str, Any] = {}


def cached_labeler(labeler_name: str, options: dict[str, Any]) -> Any:
    """This thread's labeler for ``(labeler_name, options)``, built on first use.

    One per thread: a labeler keeps calculator state (tblite's, a DFT code's) that
    must not be shared by the threads of a multi-threaded Dask worker.
    """
    import json
    import threading

    from thermognn.labels import get_labeler

    key = json.dumps([threading.get_ident(), labeler_name, options], sort_keys=True, default=repr)
    if key not in _LABELERS:
        _LABELERS[key] = get_labeler(labeler_name, **options)
    return _LABELERS[key]


def label_structure(
    labeler_name: str, options: dict[str, Any], row_id: int, numbers, positions, cell, pbc
) -> tuple[int, dict[str, Any] | None, str | None, float]:
    """Worker task: label one configuration. Returns (id, labels, error, seconds)."""
    from ase import Atoms

    t0 = time.perf_counter()
    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
    try:
        labels = cached_labeler(labeler_name, options).label(atoms)
        labels.scalars()  # raises LabelError on NaN
    except LabelError as exc:
        return row_id, None, str(exc), time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - any calculator failure is a row failure
        return row_id, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0
    return row_id, labels.__dict__, None, time.perf_counter() - t0


def label_batch(
    labeler_name: str, options: dict[str, Any], payloads: list[tuple[Any, ...]]
) -> list[tuple[int, dict[str, Any] | None, str | None, float]]:
    """Worker task: label several configurations, in order, with one labeler."""
    return [label_structure(labeler_name, options, *payload) for payload in payloads]


def _payload(db: StudyDatabase, row_id: int) -> tuple[Any, ...]:
    row = db.ase.get(id=row_id)
    return (row_id, row.numbers, row.positions, np.asarray(row.cell), row.pbc)


def batch_sizes(n: int, size: int, workers: int = 1) -> list[int]:
    """Task sizes for ``n`` rows: at most ``size`` rows, shrinking to single rows at the end.

    Guided self-scheduling: each task takes ``ceil(remaining / (2 · workers))`` rows, so
    the last tasks are single rows and no worker labels a whole batch while the others
    wait (the idle tail is at most about one row per worker).
    """
    sizes, left = [], n
    while left > 0:
        k = max(1, min(size, -(-left // (2 * max(workers, 1)))))
        sizes.append(k)
        left -= k
    return sizes


def _batches(db: StudyDatabase, ids: list[int], size: int, workers: int = 1) -> list[list[int]]:
    """``ids`` in tasks of :func:`batch_sizes`, rows of one material and parent together."""
    if size <= 1:
        return [[i] for i in ids]
    wanted = set(ids)
    order: dict[int, tuple[str, int, int]] = {}
    for row in db.ase.select(include_data=False):
        if int(row.id) in wanted:
            kv = row.key_value_pairs
            parent = int(kv.get("parent_id", row.id))
            order[int(row.id)] = (str(kv.get("material", "")), parent, int(row.id))
    ranked = sorted(ids, key=lambda i: order.get(i, ("", i, i)))
    batches, start = [], 0
    for k in batch_sizes(len(ranked), size, workers):
        batches.append(ranked[start : start + k])
        start += k
    return batches


@dataclass
class _Recorder:
    """Writes each finished row to the database and advances the progress callback."""

    db: StudyDatabase
    name: str
    version: str
    summary: LabelSummary
    total: int
    progress: Callable[[int, int], None] | None = None
    done: int = 0

    def add_all(self, results: list[tuple[Any, ...]]) -> None:
        """Record the results of one task in one database transaction."""
        with self.db.transaction():
            for result in results:
                self.add(result)

    def add(self, result: tuple[Any, ...]) -> None:
        """Record one ``(row_id, labels, error, seconds)`` result of :func:`label_structure`."""
        from thermognn.labels.base import Labels

        row_id, labels, error, seconds = result
        self.summary.compute_seconds += float(seconds)
        if error is None:
            try:
                self.db.write_labels(row_id, Labels(**labels), self.name, self.version)
                self.summary.labeled += 1
            except LabelError as exc:
                error = str(exc)
        if error is not None:
            self.db.write_failure(row_id, error, self.name, self.version)
            self.summary.failed += 1
            self.summary.errors[row_id] = error
            log.warning("row %d: %s", row_id, error)
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total)


def label_database(
    db: StudyDatabase | str,
    *,
    labeler: str = "gfn1-xtb",
    options: dict[str, Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    retry_failed: bool = False,
    query: str | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    connect_timeout: float = 10.0,
    batch_size: int = 4,
) -> LabelSummary:
    """Label every unlabeled row of ``db`` with ``labeler``.

    Parameters
    ----------
    db
        Study database (object or path/URL).
    labeler
        Labeler name (``gfn1-xtb`` default, ``gfn2-xtb``, ``emt``, ``chgnet``) or an
        ASE calculator's ``module:factory`` spec (``ase.calculators.emt:EMT``).
    options
        Keyword options of the labeler or calculator factory (e.g. ``max_iterations``,
        ``device``).
    workers
        LocalCluster workers (default: number of cores); ``0`` labels in this process.
    scheduler
        Address of an existing Dask scheduler (e.g. from dask-jobqueue on SLURM).
    retry_failed
        Also retry rows that failed before.
    query
        ASE selection string restricting the rows.
    limit
        Label at most this many rows.
    progress
        Called as ``progress(done, total)``.
    connect_timeout
        Seconds to wait for ``scheduler`` before giving up with a clear error.
    batch_size
        Most rows per worker task (rows of one parent together; tasks shrink to
        single rows at the end of a run, :func:`batch_sizes`); 1 = one row per task.
    """
    if not isinstance(db, StudyDatabase):
        db = StudyDatabase(db, create=False)
    if batch_size < 1:
        from thermognn.errors import ThermognnError

        raise ThermognnError(f"batch size must be ≥ 1, got {batch_size}")
    options = options or {}
    probe = cached_labeler(labeler, options)  # unknown labeler → one clear error, nothing run
    name, version = probe.name, probe.version
    ids = db.unlabeled_ids(retry_failed=retry_failed, query=query)
    if limit is not None:
        ids = ids[:limit]
    summary = LabelSummary(remaining=len(ids))
    db.update_config("label", {"labeler": name, "labeler_version": version, **options})
    if not ids:
        return summary
    t0 = time.perf_counter()
    recorder = _Recorder(db, name, version, summary, len(ids), progress)
    if workers == 0 and scheduler is None:
        summary.workers = 0
        for batch in _batches(db, ids, batch_size):
            with db.transaction():
                payloads = [_payload(db, row_id) for row_id in batch]
            recorder.add_all(label_batch(labeler, options, payloads))
    else:
        _label_on_dask(
            recorder, ids, batch_size, labeler, options, workers, scheduler, connect_timeout
        )
    summary.seconds = time.perf_counter() - t0
    summary.remaining = len(db.unlabeled_ids(retry_failed=retry_failed, query=query))
    return summary


def _label_on_dask(
    recorder: _Recorder,
    ids: list[int],
    batch_size: int,
    labeler: str,
    options: dict[str, Any],
    workers: int | None,
    scheduler: str | None,
    timeout: float,
) -> None:
    """Label ``ids`` on Dask, in batches of at most ``batch_size`` rows.

    Batches shrink towards the end (:func:`batch_sizes`), so no worker idles at the end
    of a run while another labels a whole batch.
    """
    from distributed import as_completed

    from thermognn.parallel import ClusterSpec, open_client

    client, cluster = open_client(ClusterSpec(workers, scheduler, timeout))

    def submit(batch: list[int]) -> Any:
        with recorder.db.transaction():
            payloads = [_payload(recorder.db, i) for i in batch]
        return client.submit(label_batch, labeler, options, payloads, pure=False)

    try:
        n_workers = len(client.scheduler_info().get("workers", {})) or (workers or 0)
        recorder.summary.workers = n_workers
        batches = _batches(recorder.db, ids, batch_size, max(n_workers, 1))
        window = max(2, 2 * max(n_workers, 1))
        pending = iter(batches)
        stream = as_completed([submit(b) for _, b in zip(range(window), pending)])
        for future in stream:
            recorder.add_all(future.result())
            future.release()
            nxt = next(pending, None)
            if nxt is not None:
                stream.add(submit(nxt))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
