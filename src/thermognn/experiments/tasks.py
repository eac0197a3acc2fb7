"""Dask plumbing shared by every study: a pool that runs tasks and yields results.

A study hands :meth:`TaskPool.imap_unordered` a worker function and an iterator of
jobs; the pool keeps a window of jobs in flight and yields ``(job, result)`` on the
client as each finishes, so the study records it at once. Jobs are drawn from the
iterator only when a slot frees, after the previous result was handed back: an Optuna
search can therefore ask for its next trial knowing every finished one.

``workers=0`` (and no scheduler) runs the jobs one after the other in this process —
for debugging and tiny studies. Otherwise a ``LocalCluster`` of single-threaded worker
processes (``OMP_NUM_THREADS=1``) is started, or an existing scheduler is joined with
``scheduler="tcp://host:8786"`` (e.g. from dask-jobqueue on SLURM); its workers must
see the study database at the same path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from thermognn.parallel import ClusterSpec, open_client

logger = logging.getLogger(__name__)

J = TypeVar("J")
R = TypeVar("R")


class TaskPool:
    """Run jobs in this process or on Dask and yield their results as they finish.

    Use as a context manager: entering starts the LocalCluster or connects to the
    scheduler, leaving closes them (also on an interruption).

    Parameters
    ----------
    spec
        Cluster settings.
    """

    def __init__(self, spec: ClusterSpec) -> None:
        self.spec = spec
        self.client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> TaskPool:
        if not self.spec.inline:
            self.client, self._cluster = open_client(self.spec)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None

    @property
    def n_workers(self) -> int:
        """Workers that run tasks (1 in this process)."""
        if self.client is None:
            return 1
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def imap_unordered(
        self,
        fn: Callable[[J], R],
        jobs: Iterable[J],
        *,
        window: int | None = None,
        on_error: Callable[[J, BaseException], R],
    ) -> Iterator[tuple[J, R]]:
        """Run ``fn(job)`` for every job; yield ``(job, result)`` in completion order.

        Parameters
        ----------
        fn
            Worker function (importable at module level, so Dask can send it).
        jobs
            Jobs, drawn lazily: a new one only when a slot frees.
        window
            Jobs in flight at once (default: two per worker).
        on_error
            Turns an exception that escaped ``fn`` (a crashed worker, a result that
            could not be sent back) into a result, so one job never ends a study.
        """
        pending = iter(jobs)
        if self.client is None:
            for job in pending:
                try:
                    result = fn(job)
                except Exception as exc:  # noqa: BLE001 - recorded as the job's failure
                    result = on_error(job, exc)
                yield job, result
            return
        yield from self._dask_map(fn, pending, window or 2 * self.n_workers, on_error)

    def _dask_map(
        self,
        fn: Callable[[J], R],
        pending: Iterator[J],
        window: int,
        on_error: Callable[[J, BaseException], R],
    ) -> Iterator[tuple[J, R]]:
        from distributed import as_completed

        owner: dict[str, J] = {}

        def submit() -> Any:
            job = next(pending, None)
            if job is None:
                return None
            future = self.client.submit(fn, job, pure=False)
            owner[future.key] = job
            return future

        first = [f for f in (submit() for _ in range(max(1, window))) if f is not None]
        if not first:
            return
        stream = as_completed(first)
        for future in stream:
            job = owner.pop(future.key)
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker; recorded, not fatal
                logger.warning("task %s raised on the cluster: %s", future.key, exc)
                result = on_error(job, exc)
            future.release()
            yield job, result
            nxt = submit()
            if nxt is not None:
                stream.add(nxt)
