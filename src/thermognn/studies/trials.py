"""Bookkeeping shared by the grid sweep and the Optuna search.

A sweep folder::

    OUT/
      study.json     settings (label, selection, epochs …); a resume must match them
      split.json     the one fixed train/val/test split (seed, database row ids)
      trials.csv     one row per finished trial, appended as each arrives
      best/          run folder of the best trial so far (ranked on validation MAE)
      runs/<trial>/  every trial's run folder (``keep="all"``; the row's ``run_dir``)
      best.json      that trial's row: hyperparameters, validation and test metrics
      summary.json   trial counts by status, total epochs, the best trial
      violins.png    validation R², MAE, MSE per hyperparameter (paper Figs. S5–S8)

Every trial trains on the same training split and is ranked on the same validation
split; only the best trial's test metrics are reported as the sweep's result.

A trial's ``status``: ``ok``; ``diverged`` (the loss turned NaN; its metrics are those
of the last good weights, and it is not ranked); ``pruned`` (stopped by the Optuna
pruner); ``failed`` (an error, in ``error``); ``duplicate`` (Optuna proposed a point it
had already finished; answered from that trial, not trained again).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thermognn.errors import ThermognnError
from thermognn.experiments.jobs import DatasetRef, TrainJob, TrainOutcome
from thermognn.experiments.records import (
    ResultTable,
    as_float,
    check_settings,
    format_cell,
    read_json,
    write_files,
    write_json,
)
from thermognn.settings import TrainSettings
from thermognn.studies.space import TrialPoint

logger = logging.getLogger(__name__)

#: Columns of ``trials.csv``.
TRIAL_COLUMNS = (
    "trial",
    "model",
    "lr",
    "hidden",
    "dropout",
    "extra",
    "status",
    "epochs_run",
    "best_epoch",
    "stop_reason",
    "best_val_loss",
    "val_mae",
    "val_rmse",
    "val_r2",
    "test_mae",
    "test_rmse",
    "test_r2",
    "wall_time",
    "run_dir",
    "error",
)

#: What ``keep`` accepts: the best trial's run folder, every trial's, or none.
KEEP_CHOICES = ("best", "all", "none")


@dataclass
class SweepResult:
    """Outcome of :func:`~thermognn.studies.run_sweep` or :func:`~thermognn.studies.run_search`.

    Attributes
    ----------
    out
        The sweep folder.
    rows
        Every recorded trial (``trials.csv`` rows, as strings).
    best
        The best trial's row (lowest validation MAE among ``ok`` trials), or ``None``.
    ran
        Trials run by this call.
    skipped
        Trials skipped because they were already recorded.
    figures
        Figures written.
    """

    out: Path
    rows: list[dict[str, str]]
    best: dict[str, str] | None
    ran: int
    skipped: int
    figures: list[Path] = field(default_factory=list)

    @property
    def total_epochs(self) -> int:
        """Epochs trained over all recorded trials."""
        return sum(epochs_of(r) for r in self.rows)

    @property
    def status_counts(self) -> dict[str, int]:
        """Recorded trials by status."""
        return dict(Counter(r["status"] for r in self.rows))


def epochs_of(row: dict[str, str]) -> int:
    """Epochs a recorded trial trained (0 when not recorded)."""
    value = as_float(row.get("epochs_run"))
    return int(value) if math.isfinite(value) else 0


def best_row(rows: Iterable[dict[str, str]]) -> dict[str, str] | None:
    """The ``ok`` row with the lowest finite validation MAE (ties: trial id)."""
    ranked = rank_trials(rows)
    return ranked[0] if ranked else None


def rank_trials(rows: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """``ok`` rows with a finite validation MAE, best first."""
    usable = [r for r in rows if r["status"] == "ok" and math.isfinite(as_float(r["val_mae"]))]
    return sorted(usable, key=lambda r: (as_float(r["val_mae"]), r["trial"]))


class TrialStudy:
    """Folder, fixed split, trial table and kept runs of one sweep.

    Parameters
    ----------
    data
        The data set.
    out
        Sweep folder (created; resumed when it holds the same study).
    kind
        ``grid`` or ``optuna``.
    train
        Training settings of every trial.
    fractions
        (train, val, test) fractions of the fixed split.
    keep
        Run folders kept: ``best`` (``out/best``), ``all`` (``out/runs/<trial>``) or
        ``none``.
    settings
        Further settings a resume must match.
    """

    def __init__(
        self,
        data: DatasetRef,
        out: str | Path,
        *,
        kind: str,
        train: TrainSettings,
        fractions: Sequence[float] = (0.7, 0.15, 0.15),
        keep: str = "best",
        settings: dict[str, Any] | None = None,
        split: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        if keep not in KEEP_CHOICES:
            raise ThermognnError(f"keep must be one of {', '.join(KEEP_CHOICES)}, got {keep!r}")
        self.data, self.out, self.train, self.keep = data, Path(out), train, keep
        fractions = tuple(float(f) for f in fractions)
        check_settings(
            self.out,
            kind,
            {**data.describe(), **train.recorded(), "fractions": fractions, **(settings or {})},
        )
        self.split = fixed_split(
            data, self.out / "split.json", seed=train.seed, fractions=fractions, given=split
        )
        self.table = ResultTable(self.out / "trials.csv", TRIAL_COLUMNS)
        self.best = best_row(self.table.rows())

    @property
    def split_digest(self) -> str:
        """SHA-256 (16 hex digits) of the split's row ids: the data's identity."""
        text = json.dumps({k: self.split[k] for k in ("train", "val", "test")})
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def recorded(self, *, retry_failed: bool = False) -> set[str]:
        """Trial ids already in the table (failed ones excluded with ``retry_failed``)."""
        rows = self.table.rows()
        return {r["trial"] for r in rows if not (retry_failed and r["status"] == "failed")}

    def job(
        self,
        point: TrialPoint,
        *,
        key: str | None = None,
        epochs: int | None = None,
        on_epoch: Callable[[Any], None] | None = None,
    ) -> TrainJob:
        """The training task of one trial on the fixed split."""
        return TrainJob(
            key=key or point.trial_id,
            data=self.data,
            split={k: self.split[k] for k in ("train", "val", "test")},
            settings=TrainSettings.of(
                self.train, model=point.model, hparams=point.hparams(), epochs=epochs
            ),
            keep_files=self.keep != "none",
            on_epoch=on_epoch,
            info={"point": point},
        )

    def row(self, job: TrainJob, outcome: TrainOutcome) -> dict[str, str]:
        """The ``trials.csv`` row of a finished trial (values as the table stores them)."""
        point: TrialPoint = job.info["point"]
        row: dict[str, Any] = {
            "trial": job.key,
            "model": point.model,
            "lr": point.lr,
            "hidden": point.hidden,
            "dropout": point.dropout,
            "extra": json.dumps(dict(point.extra), sort_keys=True) if point.extra else "",
            "status": outcome.status,
            "epochs_run": outcome.epochs_run,
            "best_epoch": outcome.best_epoch,
            "stop_reason": outcome.stop_reason,
            "best_val_loss": outcome.best_val_loss,
            "wall_time": round(outcome.wall_time, 3),
            "run_dir": f"runs/{job.key}" if outcome.files and self.keep == "all" else "",
            "error": " ".join(outcome.error.split())[:400],
        }
        for split in ("val", "test"):
            for name in ("mae", "rmse", "r2"):
                row[f"{split}_{name}"] = outcome.metric(split, name) if outcome.metrics else None
        return {column: format_cell(row.get(column)) for column in TRIAL_COLUMNS}

    def record(self, job: TrainJob, outcome: TrainOutcome) -> dict[str, str]:
        """Append a finished trial to ``trials.csv`` and keep its run folder if due."""
        row = self.row(job, outcome)
        self.table.append(row)
        if outcome.files and self.keep == "all":
            write_files(self.out / "runs" / job.key, outcome.files)
        if outcome.status == "ok" and best_row([row] + ([self.best] if self.best else [])) is row:
            self.best = row
            if outcome.files and self.keep != "none":
                write_files(self.out / "best", outcome.files)
            write_json(self.out / "best.json", row)
            logger.info("new best trial %s: val MAE %s", job.key, row["val_mae"])
        return row

    def finish(self, *, ran: int, skipped: int, plots: bool = True) -> SweepResult:
        """Write ``summary.json`` and the violin plots; return the sweep's result."""
        rows = self.table.rows()
        result = SweepResult(self.out, rows, best_row(rows), ran, skipped)
        if result.best is not None and self.keep != "none" and not (self.out / "best").is_dir():
            logger.warning("%s/best is missing (interrupted while writing?)", self.out)
        if plots:
            from thermognn.studies.plots import plot_violins

            figure = plot_violins(rows, self.out / "violins.png")
            if figure is not None:
                result.figures.append(figure)
        write_json(
            self.out / "summary.json",
            {
                "trials": len(rows),
                "status": result.status_counts,
                "total_epochs": result.total_epochs,
                "split": {k: len(self.split[k]) for k in ("train", "val", "test")},
                "best": result.best,
            },
        )
        return result


def fixed_split(
    data: DatasetRef,
    path: Path,
    *,
    seed: int,
    fractions: Sequence[float],
    given: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, Any]:
    """The study's one train/val/test split, made once and stored (by row id) in ``path``.

    ``given`` is an explicit split by row id (e.g. an experiment's pools and reserved
    test sets, so a sweep never trains or selects on rows that a comparison tests on).
    Loading the data set here also warms the graph cache the workers read.
    """
    from thermognn.experiments.jobs import positions
    from thermognn.training import split_dataset

    dataset = data.load()
    if path.is_file():
        stored = read_json(path)
        positions(dataset.row_ids, {k: stored[k] for k in ("train", "val", "test")})
        return stored
    if given is not None:
        chosen = {k: sorted(int(r) for r in given[k]) for k in ("train", "val", "test")}
        positions(dataset.row_ids, chosen)
        stored = {"seed": seed, "strategy": "given", **chosen}
        stored["sizes"] = {k: len(chosen[k]) for k in ("train", "val", "test")}
        write_json(path, stored)
        return stored
    split = split_dataset(len(dataset), seed=seed, fractions=fractions, groups=dataset.parent_ids)
    stored = {
        "seed": seed,
        "fractions": list(fractions),
        "strategy": split.strategy,
        "sizes": split.sizes,
        **{k: dataset.row_ids[split.indices[k]].tolist() for k in ("train", "val", "test")},
    }
    write_json(path, stored)
    return stored


def best_hparams(sweep_dir: str | Path) -> tuple[str, dict[str, Any]]:
    """The model name and hyperparameters of a finished sweep's best trial.

    Parameters
    ----------
    sweep_dir
        A sweep folder holding ``best.json``.

    Returns
    -------
    tuple
        ``(model, {"lr": …, "hidden": …, "dropout": …})``.
    """
    path = Path(sweep_dir) / "best.json"
    if not path.is_file():
        raise ThermognnError(f"{sweep_dir}: no best.json (not a finished sweep folder)")
    best = read_json(path)
    return best["model"], {
        "lr": float(best["lr"]),
        "hidden": int(float(best["hidden"])),
        "dropout": float(best["dropout"]),
    }
