"""The grid sweep: every point of a hyperparameter grid, a configuration of the runner.

:func:`run_sweep` makes each :class:`~thermognn.studies.space.TrialPoint` of a grid
(the paper's 480 by default) an arm of one experiment: every arm has the same pool, so
the paired seed gives every trial the same training and validation rows; one test set
is reserved first (a share of the rows, or given ids). Trials are ranked on validation
MAE and only the best one's test metrics are reported as the sweep's result. Each
finished trial is recorded at once, so a killed sweep resumes by running only the
missing trials; a grid may grow on a resume.

Folder: the runner's (``results.csv``, ``test_sets.json``, ``plan.json``,
``runs/<label>/<trial>/…``) plus the sweep's own view of it (see
:mod:`thermognn.studies.trials`): ``trials.csv``, ``split.json``, ``best/``,
``best.json``, ``summary.json`` and ``violins.png``.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from thermognn.experiments import ExperimentResult, run_experiment
from thermognn.experiments.records import ResultTable, format_cell, write_json
from thermognn.settings import ArmSpec, ExperimentSpec, Selection, TestSetSpec, TrainSettings
from thermognn.studies.options import StudyOptions
from thermognn.studies.space import PAPER_GRID, SearchSpace, TrialPoint
from thermognn.studies.trials import TRIAL_COLUMNS, SweepResult, best_row

logger = logging.getLogger(__name__)

TEST_SET = "test"


def sweep_spec(
    grid: SearchSpace,
    label: str,
    train: TrainSettings,
    *,
    query: str | None = None,
    split: Sequence[float] = (0.7, 0.15, 0.15),
    split_ids: Mapping[str, Sequence[int]] | None = None,
) -> ExperimentSpec:
    """The experiment of a grid sweep: one arm per grid point, one shared test set."""
    train_frac, val_frac, test_frac = (float(f) for f in split)
    if split_ids is not None:
        pool = Selection(ids=sorted({*split_ids["train"], *split_ids["val"]}))
        test = TestSetSpec(name=TEST_SET, select=Selection(ids=list(split_ids["test"])))
        val_fraction = len(split_ids["val"]) / max(1, len(split_ids["train"]))
    else:
        pool = Selection(query=query)
        test = TestSetSpec(name=TEST_SET, select=pool, fraction=test_frac)
        val_fraction = val_frac / train_frac
    arms = [
        ArmSpec(
            name=point.trial_id,
            select=pool,
            train={"model": point.model, "hparams": point.hparams()},
        )
        for point in grid.points()
    ]
    return ExperimentSpec(
        labels=[label],
        test_sets=[test],
        arms=arms,
        sizes=None,
        seeds=1,
        seed=train.seed,
        val_fraction=val_fraction,
        train=train,
    )


def trial_rows(
    experiment: ExperimentResult, points: Mapping[str, TrialPoint], keep: str
) -> list[dict[str, str]]:
    """The ``trials.csv`` view of the experiment's results (one row per trial)."""
    rows = []
    for r in experiment.rows:
        if r["test_set"] != TEST_SET or r["arm"] not in points:
            continue
        point = points[r["arm"]]
        run_dir = f"runs/{r['label']}/{r['arm']}/{r['size']}/{r['seed']}"
        row: dict[str, Any] = {
            **r,
            "trial": r["arm"],
            **point.params(),
            "extra": "" if not point.extra else str(dict(point.extra)),
            "test_mae": r["mae"],
            "test_rmse": r["rmse"],
            "test_r2": r["r2"],
            "run_dir": run_dir if keep == "all" and (experiment.out / run_dir).is_dir() else "",
        }
        rows.append({c: format_cell(row.get(c)) for c in TRIAL_COLUMNS})
    return sorted(rows, key=lambda x: x["trial"])


def run_sweep(
    db: Any,
    *,
    label: str,
    out: str | Path,
    query: str | None = "labeled=1",
    grid: SearchSpace = PAPER_GRID,
    retry_failed: bool = False,
    train: TrainSettings | None = None,
    **options: Any,
) -> SweepResult:
    """Train every point of ``grid`` on the same rows; rank on validation MAE.

    Parameters
    ----------
    db
        Study database (path or URL), readable by every worker.
    label
        Label to predict (``band_gap``, ``energy_per_atom``, ``vbm``, ``hydrostatic_stress``).
    out
        Sweep folder; an existing one with the same settings is resumed (the grid may grow).
    query
        ASE selection of the rows (default: every labeled row).
    grid
        The hyperparameter grid (:data:`~thermognn.studies.space.PAPER_GRID`, or a
        sub-grid from :meth:`~thermognn.studies.space.SearchSpace.restrict`).
    retry_failed
        Re-run trials recorded as ``failed``.
    train
        Base training recipe (the grid point sets model, hyperparameters and lr).
    **options
        :class:`~thermognn.studies.options.StudyOptions`: ``epochs``, ``patience``,
        ``batch_size``, ``device``, ``cutoff`` (override ``train``), ``seed``, ``split``,
        ``split_ids``, ``workers``, ``scheduler``, ``connect_timeout``, ``keep``,
        ``cache_dir``, ``plots`` and ``progress``.

    Returns
    -------
    SweepResult
        All recorded trials, the best one, and how many ran now.
    """
    opts = StudyOptions.of(options)
    recipe = TrainSettings.of(train, **opts.train_updates(), cutoff=opts.cutoff)
    spec = sweep_spec(
        grid,
        label,
        recipe,
        query=None if query in (None, "", "labeled=1") else str(query),
        split=opts.split,
        split_ids=opts.split_ids,
    )
    out = Path(out)
    experiment = run_experiment(
        db,
        spec,
        out=out,
        workers=opts.workers,
        scheduler=opts.scheduler,
        connect_timeout=opts.connect_timeout,
        keep="none" if opts.keep == "none" else "all",
        cache_dir=opts.cache_dir,
        progress=opts.progress,
        retry_failed=retry_failed,
    )
    points = {p.trial_id: p for p in grid.points()}
    rows = trial_rows(experiment, points, opts.keep)
    table = ResultTable(out / "trials.csv", TRIAL_COLUMNS)
    table.path.unlink(missing_ok=True)
    table.append_many(rows)
    first = spec.arms[0].name
    write_json(
        out / "split.json", experiment.plan.selection(first, experiment.plan.max_size(first), 0)
    )
    result = SweepResult(out, rows, best_row(rows), experiment.ran, experiment.skipped)
    _write_best(out, label, result, opts.keep)
    if opts.plots:
        from thermognn.studies.plots import plot_violins

        figure = plot_violins(rows, out / "violins.png")
        if figure is not None:
            result.figures.append(figure)
    write_json(
        out / "summary.json",
        {
            "trials": len(rows),
            "status": result.status_counts,
            "total_epochs": result.total_epochs,
            "best": result.best,
        },
    )
    return result


def _write_best(out: Path, label: str, result: SweepResult, keep: str) -> None:
    """``best.json`` and the best trial's run folder as ``best/``."""
    if result.best is None:
        return
    write_json(out / "best.json", result.best)
    if keep == "none":
        return
    found = sorted((out / "runs" / label / result.best["trial"]).glob("*/0"))
    if not found:
        if not (out / "best").is_dir():
            logger.warning("%s: the best trial's run folder is missing", out)
        return
    staging = out / "best.new"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(found[-1], staging)
    shutil.rmtree(out / "best", ignore_errors=True)
    staging.rename(out / "best")
    if keep == "best":  # the trials' own folders are not kept
        shutil.rmtree(out / "runs", ignore_errors=True)
