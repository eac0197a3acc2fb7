"""The grid sweep: every point of a hyperparameter grid, one fixed split, on Dask.

:func:`run_sweep` trains each :class:`~thermognn.studies.space.TrialPoint` of a grid
(the paper's 480 by default) on one fixed training split, ranks them on one fixed
validation split and reports the best one's test metrics. Trials run as Dask tasks;
each finished trial is appended to ``trials.csv`` at once, so a killed sweep resumes
by running only the missing trials. See :mod:`thermognn.studies.trials` for the folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from thermognn.studies.jobs import DatasetRef, crashed, train_job
from thermognn.studies.space import PAPER_GRID, SearchSpace
from thermognn.studies.tasks import ClusterSpec, TaskPool
from thermognn.studies.trials import SweepResult, TrainSettings, TrialStudy

logger = logging.getLogger(__name__)


def run_sweep(
    db: Any,
    *,
    label: str,
    out: str | Path,
    query: Mapping[str, Any] | str | None = "labeled=1",
    grid: SearchSpace = PAPER_GRID,
    epochs: int = 300,
    patience: int = 30,
    batch_size: int = 64,
    seed: int = 0,
    split: Sequence[float] = (0.7, 0.15, 0.15),
    device: str = "cpu",
    workers: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = 10.0,
    keep: str = "best",
    retry_failed: bool = False,
    cutoff: float = 5.5,
    cache_dir: str | Path | None = None,
    plots: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Train every point of ``grid`` on one fixed split; rank on validation MAE.

    Parameters
    ----------
    db
        Study database (path or URL), readable by every worker.
    label
        Label to predict (``band_gap``, ``energy_per_atom``, ``vbm``, ``hydrostatic_stress``).
    out
        Sweep folder; an existing one with the same settings is resumed.
    query
        ASE selection of the rows (default: labeled rows).
    grid
        The hyperparameter grid (:data:`~thermognn.studies.space.PAPER_GRID`, or a
        sub-grid from :meth:`~thermognn.studies.space.SearchSpace.restrict`).
    epochs, patience, batch_size
        Maximum epochs, early-stopping patience and batch size of every trial.
    seed
        Seed of the fixed split and of every model's initial weights.
    split
        (train, val, test) fractions of the fixed split.
    device
        ``cpu``, ``cuda`` or ``auto`` (on the workers).
    workers, scheduler, connect_timeout
        LocalCluster size (``0``: in this process) or the address of a Dask
        scheduler, and how long to wait for it (s).
    keep
        Run folders kept: ``best`` (default), ``all`` or ``none``.
    retry_failed
        Re-run trials recorded as ``failed``.
    cutoff, cache_dir
        Graph cutoff (Å) and graph cache folder.
    plots
        Write the violin plots.
    progress
        Called as ``progress(done, total)`` after each trial.

    Returns
    -------
    SweepResult
        All recorded trials, the best one, and how many ran now.
    """
    data = DatasetRef.of(db, label, query, cutoff, cache_dir)
    train = TrainSettings(epochs, patience, batch_size, seed, device)
    study = TrialStudy(data, out, kind="grid", train=train, fractions=split, keep=keep)
    done = study.recorded(retry_failed=retry_failed)
    todo = [p for p in grid.points() if p.trial_id not in done]
    skipped = grid.size - len(todo)
    logger.info("sweep %s: %d trials to run, %d already recorded", out, len(todo), skipped)
    ran = 0
    if todo:
        with TaskPool(ClusterSpec(workers, scheduler, connect_timeout)) as pool:
            jobs = (study.job(p) for p in todo)
            for job, outcome in pool.imap_unordered(train_job, jobs, on_error=crashed):
                study.record(job, outcome)
                ran += 1
                if progress is not None:
                    progress(skipped + ran, grid.size)
    return study.finish(ran=ran, skipped=skipped, plots=plots)
