"""A sample-efficient search of the sweep's space with Optuna (TPE + pruning) on Dask.

:func:`run_search` samples the grid's space (:class:`~thermognn.studies.space.SearchSpace`)
through the trial's ``suggest_*`` calls — by default the ranges the grid's choices span
(:meth:`~thermognn.studies.space.SearchSpace.as_ranges`: the learning rate log-uniform,
hidden channels integers, dropout a float, the architecture categorical) — with a
seeded TPE sampler and stops
unpromising trials early with a median or successive-halving pruner fed by each
epoch's validation loss. It shares the grid's folder layout, fixed split and
``trials.csv`` format (:mod:`thermognn.studies.trials`); trial ids are
``optuna-NNNN`` (the Optuna trial number).

Design: the client asks Optuna for each trial as a worker frees up (so TPE sees every
finished trial), the worker reports each epoch's validation loss to the *shared*
storage through :class:`OptunaReporter` and stops when the pruner says so, and the
client records the outcome (``trials.csv`` first, the full row also as a trial user
attribute) and tells Optuna. The storage is a journal file ``OUT/optuna.log`` by
default — an interrupted search resumes from it — or any Optuna storage URL
(``postgresql://…``) shared by several machines, each running ``thermognn sweep
--search optuna`` with its own ``--out``. Trials this folder left running when it was
killed are marked failed (interrupted) on resume and do not count.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from thermognn.errors import ThermognnError
from thermognn.experiments.jobs import (
    DatasetRef,
    TrainJob,
    TrainOutcome,
    crashed,
    train_job,
)
from thermognn.experiments.records import as_float
from thermognn.experiments.tasks import ClusterSpec, TaskPool
from thermognn.settings import DEFAULT_CUTOFF, TrainSettings
from thermognn.studies.options import StudyOptions
from thermognn.studies.optuna_io import (
    IDENTITY_ATTR,
    PRUNERS,
    SAMPLERS,
    OptunaReporter,
    PrunerSpec,
    TrialRef,
    open_storage,
    open_study,
    storage_spec,
)
from thermognn.studies.space import PAPER_GRID, SearchSpace, TrialPoint
from thermognn.studies.trials import (
    SweepResult,
    TrialStudy,
    best_row,
    epochs_of,
)

__all__ = [
    "IDENTITY_ATTR",
    "PRUNERS",
    "SAMPLERS",
    "OptunaReporter",
    "PrunerSpec",
    "TrialRef",
    "open_storage",
    "open_study",
    "run_search",
    "storage_spec",
]

logger = logging.getLogger(__name__)


def run_search(
    db: Any,
    *,
    label: str,
    out: str | Path,
    query: Mapping[str, Any] | str | None = "labeled=1",
    space: SearchSpace = PAPER_GRID,
    ranges: bool = True,
    trials: int = 50,
    pruner: str = "median",
    pruner_warmup: int | None = None,
    storage: str | Path | None = None,
    study_name: str = "thermognn-sweep",
    epoch_budget: int | None = None,
    startup_trials: int = 10,
    sampler: str = "tpe",
    sampler_seed: int | None = None,
    **options: Any,
) -> SweepResult:
    """Search ``space`` with Optuna (TPE + pruning); rank on validation MAE.

    Parameters
    ----------
    db, label, out, query
        As :func:`~thermognn.studies.run_sweep`.
    space
        The space; its numeric choices are searched as the ranges they span.
    ranges
        ``False``: sample only the space's choices (every dimension categorical).
    trials
        Trials in the whole study (all machines; resumed ones count).
    pruner
        ``median``, ``sha`` (successive halving) or ``none``.
    pruner_warmup
        Epochs before a trial may be pruned (median; default a tenth of ``epochs``)
        or the first successive-halving rung (default ``auto``).
    storage
        Optuna storage: a file (journal; SQLite for ``.db``/``.sqlite``) or a URL;
        default ``out/optuna.log``.
    study_name
        Optuna study name; one storage can hold several (one per label, say).
    epoch_budget
        Stop asking for trials once this folder's trials used this many epochs; each
        new trial is capped at the epochs left (in parallel, trials in flight may
        overshoot the budget).
    startup_trials
        Random trials before TPE models the space.
    sampler
        ``tpe`` (default) or ``random`` (a baseline for the TPE search).
    sampler_seed
        Seed of the sampler (default: ``seed``).
    **options
        :class:`~thermognn.studies.options.StudyOptions`, as for
        :func:`~thermognn.studies.run_sweep` (``split_ids``: e.g. a grid sweep's
        ``split.json``, so search and grid are ranked on the same validation rows).

    Returns
    -------
    SweepResult
        This folder's trials, the best one, and how many ran now.
    """
    if trials < 1:
        raise ThermognnError(f"trials must be ≥ 1, got {trials}")
    opts = StudyOptions.of(options)
    out = Path(out)
    if ranges:
        space = space.as_ranges()
    cutoff = DEFAULT_CUTOFF if opts.cutoff is None else opts.cutoff
    data = DatasetRef.of(db, label, query, cutoff, opts.cache_dir)
    train = TrainSettings.of(None, **opts.train_updates())
    spec = storage_spec(storage, out)
    prune = PrunerSpec(pruner, train.epochs, warmup=pruner_warmup)
    settings = {
        "space": space.to_dict(),
        "pruner": pruner,
        "pruner_warmup": pruner_warmup,
        "sampler": sampler,
        "storage": None if storage is None else spec,
        "study_name": study_name,
    }
    study = TrialStudy(
        data,
        out,
        kind="optuna",
        train=train,
        fractions=opts.split,
        keep=opts.keep,
        settings=settings,
        split=opts.split_ids,
    )
    identity = {
        "label": label,
        "query": data.describe()["query"],
        "split": study.split_digest,
        "space": space.to_dict(),
        **train.recorded(),
    }
    optuna_study = open_study(
        spec,
        study_name,
        identity,
        seed=opts.seed if sampler_seed is None else sampler_seed,
        pruner=prune,
        startup_trials=startup_trials,
        sampler=sampler,
    )
    owner = f"{socket.gethostname()}:{out.resolve()}"
    _reconcile(optuna_study, study, owner, spec)
    search = _Search(optuna_study, study, space, owner, spec, prune, trials, epoch_budget)
    skipped = len(study.table.rows())
    with TaskPool(ClusterSpec(opts.workers, opts.scheduler, opts.connect_timeout)) as pool:
        outcomes = pool.imap_unordered(
            train_job, search.asks(), window=pool.n_workers, on_error=crashed
        )
        for job, outcome in outcomes:
            search.record(job, outcome)
            if opts.progress is not None:
                opts.progress(search.counted(), trials)
    return study.finish(ran=search.ran, skipped=skipped, plots=opts.plots)


class _Search:
    """Client side of a search: asks trials, records and tells outcomes."""

    def __init__(
        self,
        optuna_study: Any,
        study: TrialStudy,
        space: SearchSpace,
        owner: str,
        storage: str,
        pruner: PrunerSpec,
        trials: int,
        epoch_budget: int | None,
    ) -> None:
        self.optuna_study, self.study, self.owner = optuna_study, study, owner
        self.storage, self.pruner, self.trials, self.budget = storage, pruner, trials, epoch_budget
        self.space = space
        self.asked: dict[str, Any] = {}
        self.ran = 0
        self.used = sum(epochs_of(r) for r in study.table.rows())

    def counted(self) -> int:
        """Trials of the study that count towards ``trials`` (interrupted ones do not)."""
        return sum(1 for t in self.optuna_study.get_trials(deepcopy=False) if not _interrupted(t))

    def asks(self) -> Iterator[TrainJob]:
        """Ask Optuna for trials while the study and the epoch budget have room."""
        while self.counted() < self.trials:
            left = None if self.budget is None else self.budget - self.used
            if left is not None and left <= 0:
                logger.info("epoch budget %d used up (%d epochs)", self.budget, self.used)
                return
            trial = self.optuna_study.ask()
            trial.set_user_attr("owner", self.owner)
            key = f"optuna-{trial.number:04d}"
            point = self.space.suggest(trial)
            twin = self._twin(trial)
            if twin is not None:
                self._record_duplicate(trial, point, twin)
                continue
            self.asked[key] = trial
            hook = OptunaReporter(
                self.storage, self.optuna_study.study_name, trial.number, self.pruner
            )
            epochs = min(left, self.study.train.epochs) if left is not None else None
            yield self.study.job(point, key=key, epochs=epochs, on_epoch=hook)

    def _twin(self, trial: Any) -> Any:
        """A finished (complete or pruned) trial with the same parameters, if any."""
        import optuna

        done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        for other in self.optuna_study.get_trials(deepcopy=False, states=done):
            if other.params == trial.params:
                return other
        return None

    def _record_duplicate(self, trial: Any, point: TrialPoint, twin: Any) -> None:
        """Answer a repeated point from its twin (same split and seed: same model)."""
        import optuna

        key = f"optuna-{trial.number:04d}"
        outcome = TrainOutcome(
            key, "duplicate", stop_reason=f"duplicate of optuna-{twin.number:04d}"
        )
        job = self.study.job(point, key=key)
        trial.set_user_attr("row", self.study.row(job, outcome))
        self.study.record(job, outcome)
        if twin.state == optuna.trial.TrialState.COMPLETE:
            self.optuna_study.tell(trial.number, twin.value)
        else:
            self.optuna_study.tell(trial.number, state=optuna.trial.TrialState.PRUNED)
        logger.info("trial %s repeats optuna-%04d; not trained again", key, twin.number)

    def record(self, job: TrainJob, outcome: Any) -> None:
        """Keep the row on the trial, write it to ``trials.csv``, then tell Optuna."""
        trial = self.asked.pop(job.key)
        row = self.study.row(job, outcome)
        trial.set_user_attr("row", row)
        self.study.record(job, outcome)
        self.used += outcome.epochs_run
        self.ran += 1
        _tell(self.optuna_study, trial.number, row)


def _tell(optuna_study: Any, number: int, row: Mapping[str, str]) -> None:
    """Tell Optuna a trial's outcome from its row: the validation MAE, pruned or failed."""
    import optuna

    value = as_float(row["val_mae"])
    if row["status"] == "pruned":
        optuna_study.tell(number, state=optuna.trial.TrialState.PRUNED)
    elif row["status"] in ("ok", "diverged") and math.isfinite(value):
        optuna_study.tell(number, value)
    else:
        optuna_study.tell(number, state=optuna.trial.TrialState.FAIL)


def _interrupted(trial: Any) -> bool:
    return bool(trial.user_attrs.get("interrupted"))


def _reconcile(optuna_study: Any, study: TrialStudy, owner: str, storage: str) -> None:
    """Bring the storage and ``trials.csv`` of this folder back in step after a kill.

    A trial's row is stored on the trial before it is written to ``trials.csv`` and
    before Optuna is told. So a trial of this folder with a row but missing from the
    table gets its row appended; one still running with a row is told its outcome;
    one running without a row was interrupted mid-training and is marked failed
    (``interrupted``; it does not count towards the number of trials).
    """
    import optuna

    recorded = study.recorded()
    for trial in optuna_study.get_trials(deepcopy=False):
        if trial.user_attrs.get("owner") != owner:
            continue
        key = f"optuna-{trial.number:04d}"
        row = trial.user_attrs.get("row")
        if row is not None and key not in recorded:
            study.table.append(row)
            logger.info("trial %s restored to trials.csv from the Optuna storage", key)
        if trial.state != optuna.trial.TrialState.RUNNING:
            continue
        if row is not None:
            _tell(optuna_study, trial.number, row)
        else:
            TrialRef(storage, optuna_study.study_name, trial.number).set_user_attr(
                "interrupted", True
            )
            optuna_study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            logger.warning("trial %s was interrupted; marked failed", key)
    study.best = best_row(study.table.rows())
