"""The Dask workers thermognn starts: single-threaded, with the malloc settings of a plain
process from their first instruction (a worker's training loop otherwise ran 2.3× slower)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from thermognn.parallel import WORKER_ENV, WORKER_MALLOC, ClusterSpec, open_client


def _startup_environment() -> dict[str, str]:
    """The environment the process was started with (what glibc read), not ``os.environ``."""
    raw = Path("/proc/self/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/environ is Linux's")
def test_workers_start_with_plain_malloc_and_one_thread():
    client, cluster = open_client(ClusterSpec(workers=2))
    try:
        started = client.run(_startup_environment)
        threads = client.run(_threads)
    finally:
        client.close()
        cluster.close()
    assert len(started) == 2
    for env in started.values():
        for key, value in WORKER_MALLOC.items():
            assert env.get(key) == value, key  # in place before the interpreter started
    assert set(threads.values()) == {1} and WORKER_ENV["OMP_NUM_THREADS"] == "1"


def test_shared_cluster_serves_several_studies_with_the_same_workers():
    import os

    from thermognn.experiments.tasks import TaskPool
    from thermognn.parallel import shared_cluster

    def pids(spec: ClusterSpec) -> set[int]:
        with TaskPool(spec) as pool:
            return {pid for _, pid in pool.imap_unordered(_pid, range(4), on_error=_nan)}

    with shared_cluster(ClusterSpec(workers=1)) as spec:
        assert spec.scheduler and spec.scheduler.startswith("tcp://")
        first, second = pids(spec), pids(spec)
    assert first == second and len(first) == 1 and os.getpid() not in first
    inline = ClusterSpec(workers=0)
    with shared_cluster(inline) as same:  # no cluster to start: passed through
        assert same is inline


def _pid(_: int) -> int:
    import os

    return os.getpid()


def _nan(_: int, exc: BaseException) -> int:
    raise exc


def _housekeeping() -> tuple[str, bool]:
    import dask

    return (
        str(dask.config.get("distributed.admin.tick.interval")),
        bool(dask.config.get("distributed.worker.profile.enabled")),
    )


def test_workers_run_with_slow_housekeeping_and_no_profiler():
    from thermognn.parallel import CLUSTER_CONFIG

    client, cluster = open_client(ClusterSpec(workers=1))
    try:
        seen = set(client.run(_housekeeping).values())
    finally:
        client.close()
        cluster.close()
    assert seen == {(CLUSTER_CONFIG["distributed.admin.tick.interval"], False)}
