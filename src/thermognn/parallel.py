"""Dask plumbing shared by labeling and studies: one way to get a client."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from thermognn.errors import ThermognnError

#: Environment of every worker: one thread each (xTB, BLAS and torch would oversubscribe).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

#: glibc malloc settings a worker process starts with. Dask's nanny sets
#: ``MALLOC_TRIM_THRESHOLD_=65536``, which also pins the mmap threshold at 128 KiB, so every
#: freed tensor of a training step goes back to the kernel and the next one page-faults in
#: again: a torch training loop ran 2.3–2.6× slower in a worker than in a plain process
#: (measured: 2560×64 matmul + backward, 2,000 steps, 5.3 s vs 2.2 s). Both thresholds
#: at 128 MiB restore plain-process speed; memory is still returned above that.
WORKER_MALLOC = {"MALLOC_TRIM_THRESHOLD_": "134217728", "MALLOC_MMAP_THRESHOLD_": "134217728"}

#: Dask settings of a LocalCluster: no statistical profiler in the workers (it samples
#: every worker's stack each 10 ms, time taken from the tasks it watches), and slower
#: housekeeping: the 20 ms event-loop tick, the 0.5 s system monitor (with disk counters),
#: the 0.1 s work-stealing and memory checks. Measured on an idle 2-worker cluster, the
#: client process used 68 ms of CPU per second with Dask's defaults and 12 ms with these,
#: each worker 27 → 4 ms: time the tasks lost on a machine with as many workers as cores.
CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.system-monitor.disk": False,
    "distributed.scheduler.work-stealing-interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
}


@dataclass(frozen=True)
class ClusterSpec:
    """Where tasks run.

    Attributes
    ----------
    workers
        Number of LocalCluster worker processes (``None``: one per core); ``0`` runs
        the tasks in this process, one after the other.
    scheduler
        Address of an existing Dask scheduler (e.g. from dask-jobqueue on SLURM);
        ``workers`` is then ignored.
    connect_timeout
        Seconds to wait for ``scheduler`` before a clear error.
    """

    workers: int | None = None
    scheduler: str | None = None
    connect_timeout: float = 10.0

    @property
    def inline(self) -> bool:
        """Run in this process (no cluster)."""
        return self.workers == 0 and not self.scheduler


def open_client(spec: ClusterSpec) -> tuple[Any, Any]:
    """A Dask client and the LocalCluster it owns (``None`` for an external scheduler).

    Raises
    ------
    ThermognnError
        When the scheduler cannot be reached within ``spec.connect_timeout`` seconds.
    """
    import dask
    from distributed import Client, LocalCluster

    if spec.scheduler:
        try:
            return Client(spec.scheduler, timeout=f"{spec.connect_timeout}s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise ThermognnError(
                f"scheduler {spec.scheduler}: unreachable within "
                f"{spec.connect_timeout:g} s ({type(exc).__name__}: {exc})"
            ) from None
    n = spec.workers or os.cpu_count() or 1
    if n < 0:
        raise ThermognnError(f"workers must be ≥ 0, got {n}")
    malloc = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC.items()}
    # the scheduler's HTTP port moves if 8787 is taken; the malloc settings must be in the
    # environment a worker process starts with (``env`` is applied after it started)
    with warnings.catch_warnings(), dask.config.set({**malloc, **CLUSTER_CONFIG}):
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard": False},
            env=WORKER_ENV,
            silence_logs=logging.ERROR,
        )
    return Client(cluster), cluster


@contextmanager
def shared_cluster(spec: ClusterSpec) -> Iterator[ClusterSpec]:
    """One LocalCluster for several studies in a row; yields the spec that joins it.

    Every study opens its own client; pointed at this cluster's scheduler they reuse its
    worker processes, so imports and the data sets a worker keeps in memory
    (:class:`~thermognn.experiments.jobs.DatasetRef`) are paid once, not per study.
    An external scheduler or ``workers=0`` is passed through unchanged.
    """
    if spec.inline or spec.scheduler:
        yield spec
        return
    client, cluster = open_client(spec)
    try:
        yield replace(spec, scheduler=cluster.scheduler_address)
    finally:
        client.close()
        cluster.close()
