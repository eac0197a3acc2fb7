"""One runner for every experiment: labels × test sets × arms × sizes × paired seeds.

Folder::

    OUT/
      experiment.json    the resolved ExperimentSpec; a resume must match it
      test_sets.json     {name: [row ids]}, reserved first, disjoint from every pool
      plan.json          test sets, pools, rows set aside, MD blocks
      results.csv        tidy table, one row per (label, arm, size, seed, test_set),
                         appended as each model finishes
      differences.csv    paired differences between arms (95 % bootstrap intervals)
      runs/<label>/<arm>/<size>/<seed>/   kept run folders (``keep``)

Every (label, arm, size, seed) is one task on Dask (a LocalCluster by default, any
scheduler address, or in this process with ``workers=0``); every trained model is
scored on every test set; each finished task is recorded at once, so an interrupted
experiment resumes by skipping recorded keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from thermognn.errors import ThermognnError
from thermognn.experiments.jobs import DatasetRef, TrainJob, TrainOutcome, crashed, train_job
from thermognn.experiments.plan import ExperimentPlan, add_pools, make_plan, read_rows
from thermognn.experiments.records import (
    ResultTable,
    check_settings,
    read_json,
    write_files,
    write_json,
)
from thermognn.experiments.stats import DIFFERENCE_COLUMNS, paired_differences
from thermognn.experiments.tasks import ClusterSpec, TaskPool
from thermognn.settings import ExperimentSpec, validated

logger = logging.getLogger(__name__)

#: Columns of ``results.csv``.
RESULT_COLUMNS = (
    "label",
    "arm",
    "size",
    "seed",
    "test_set",
    "n_test",
    "mae",
    "rmse",
    "r2",
    "status",
    "n_train",
    "n_val",
    "train_mae",
    "train_r2",
    "val_mae",
    "val_rmse",
    "val_r2",
    "best_val_loss",
    "epochs_run",
    "best_epoch",
    "stop_reason",
    "wall_time",
    "error",
)

Keep = Literal["none", "largest", "all"]


@dataclass
class ExperimentResult:
    """Outcome of :func:`run_experiment`.

    Attributes
    ----------
    out
        The experiment folder.
    plan
        Test sets and pools.
    rows
        Every ``results.csv`` row.
    differences
        Every ``differences.csv`` row.
    ran, skipped
        Models trained now; models already recorded.
    """

    out: Path
    plan: ExperimentPlan
    rows: list[dict[str, str]]
    differences: list[dict[str, Any]] = field(default_factory=list)
    ran: int = 0
    skipped: int = 0

    def run_dirs(self, label: str, arm: str, size: int | None = None) -> list[Path]:
        """Kept run folders of one label and arm (largest size when ``size`` is None)."""
        base = self.out / "runs" / label / arm
        if not base.is_dir():
            return []
        sizes = sorted(int(p.name) for p in base.iterdir() if p.name.isdigit())
        if not sizes:
            return []
        chosen = base / str(size if size is not None else sizes[-1])
        if not chosen.is_dir():
            return []
        return sorted(p for p in chosen.iterdir() if (p / "model.pt").is_file())


@dataclass
class ExperimentView:
    """Base of a study's result: its experiment, seen through the usual attributes."""

    experiment: ExperimentResult

    @property
    def out(self) -> Path:
        return self.experiment.out

    @property
    def rows(self) -> list[dict[str, str]]:
        return self.experiment.rows

    @property
    def ran(self) -> int:
        return self.experiment.ran

    @property
    def skipped(self) -> int:
        return self.experiment.skipped


def _query_ids(db: str, spec: ExperimentSpec) -> dict[str, set[int]]:
    from thermognn.database.guard import open_database, select

    selections = [t.select for t in spec.test_sets] + [a.select for a in spec.arms]
    queries = {s.query for s in selections if s.query}
    if not queries:
        return {}
    database = open_database(db)
    return {q: {row.id for row in select(database, q, columns=["id"])} for q in queries}


def load_plan(db: str, spec: ExperimentSpec, out: Path) -> ExperimentPlan:
    """The stored plan of a resumed experiment (with pools for new arms), or a new one.

    The plan is stored at once, so test sets never move once reserved.
    """
    path = out / "plan.json"
    rows: list[Any] | None = None
    if path.is_file():
        plan = ExperimentPlan.from_dict(read_json(path))
        if all(a.name in plan.pools for a in spec.arms):
            add_pools(plan, [], spec)  # checks that every arm is declared as it was
            return plan
        rows = read_rows(db, spec.labels, spec.md_block)
        add_pools(plan, rows, spec, _query_ids(db, spec))
    else:
        rows = read_rows(db, spec.labels, spec.md_block)
        if not rows:
            raise ThermognnError(f"{db}: no labeled rows with finite {', '.join(spec.labels)}")
        plan = make_plan(rows, spec, _query_ids(db, spec))
        write_json(out / "test_sets.json", plan.test_sets)
    write_json(path, plan.to_dict())
    return plan


def _rows_of(job: TrainJob, outcome: TrainOutcome) -> list[dict[str, Any]]:
    """The results rows of one model: one per test set."""
    info = job.info
    base = {
        "label": info["label"],
        "arm": info["arm"],
        "size": info["size"],
        "seed": info["seed"],
        "status": outcome.status,
        "n_train": len(job.split["train"]),
        "n_val": len(job.split["val"]),
        "train_mae": outcome.metric("train", "mae"),
        "train_r2": outcome.metric("train", "r2"),
        "val_mae": outcome.metric("val", "mae"),
        "val_rmse": outcome.metric("val", "rmse"),
        "val_r2": outcome.metric("val", "r2"),
        "best_val_loss": outcome.best_val_loss,
        "epochs_run": outcome.epochs_run,
        "best_epoch": outcome.best_epoch,
        "stop_reason": outcome.stop_reason,
        "wall_time": round(outcome.wall_time, 3),
        "error": " ".join(outcome.error.split())[:400],
    }
    return [
        {
            **base,
            "test_set": name,
            "n_test": len(ids),
            **{m: outcome.metric(name, m) for m in ("mae", "rmse", "r2")},
        }
        for name, ids in job.groups.items()
    ]


def latest(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The newest rows of every (label, arm, size, seed, test set) (a retried model wins)."""
    newest: dict[tuple[str, ...], dict[str, str]] = {}
    for r in rows:
        newest[(r["label"], r["arm"], r["size"], r["seed"], r["test_set"])] = r
    return list(newest.values())


def _keep(keep: Keep, size: int, sizes: list[int]) -> bool:
    return keep == "all" or (keep == "largest" and size == max(sizes))


def plan_jobs(
    db: str,
    spec: ExperimentSpec,
    plan: ExperimentPlan,
    *,
    done: set[tuple[str, str, int, int]] = frozenset(),  # type: ignore[assignment]
    keep: Keep = "largest",
    cache_dir: str | Path | None = None,
) -> Iterator[TrainJob]:
    """Every model still to train, label by label, size by size, seed by seed."""
    for label in spec.labels:
        for arm in spec.arms_for(label):
            settings = spec.arm_settings(arm, label)
            data = DatasetRef.of(db, label, "labeled=1", settings.cutoff, cache_dir)
            sizes = plan.sizes(arm.name, spec.sizes_for(label), spec.on_short)
            sizes = sizes[-1:] if arm.largest_only else sizes
            for size in sizes:
                for k in range(spec.seeds):
                    if (label, arm.name, size, k) in done:
                        continue
                    yield TrainJob(
                        key=f"{label}/{arm.name}/{size}/{k}",
                        data=data,
                        split=plan.selection(arm.name, size, k),
                        settings=settings.model_copy(update={"seed": settings.seed + k}),
                        groups=dict(plan.test_sets),
                        keep_files=_keep(keep, size, sizes),
                        info={"label": label, "arm": arm.name, "size": size, "seed": k},
                    )


def as_spec(data: Mapping[str, Any]) -> ExperimentSpec:
    """An :class:`ExperimentSpec` from its dict (one error line per bad field)."""
    spec: ExperimentSpec = validated(ExperimentSpec, data, "experiment")
    return spec


def run_experiment(
    db: Any,
    spec: ExperimentSpec | Mapping[str, Any],
    *,
    out: str | Path,
    workers: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = 10.0,
    keep: Keep = "largest",
    cache_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    retry_failed: bool = False,
) -> ExperimentResult:
    """Run an experiment (resumable).

    Parameters
    ----------
    db
        Study database (path or URL; every worker must read it at the same path).
    spec
        The experiment (an :class:`~thermognn.settings.ExperimentSpec` or its dict).
    out
        Experiment folder; an existing one with the same spec is resumed.
    workers, scheduler, connect_timeout
        Where the models train: LocalCluster workers (``None`` = one per core, ``0`` =
        this process) or an existing Dask scheduler's address.
    keep
        Run folders kept under ``out/runs``: ``largest`` size of each arm, ``all``, or
        ``none``.
    cache_dir
        Graph cache folder (default: next to the database).
    progress
        Called as ``progress(done, total)`` after each model.
    retry_failed
        Train again the models recorded as ``failed`` (their old rows stay in the
        table; the newest row of a model counts).

    Returns
    -------
    ExperimentResult
        The plan, every results row and the paired differences.
    """
    spec = spec if isinstance(spec, ExperimentSpec) else as_spec(spec)
    spec.check_names()
    out = Path(out)
    db_text = DatasetRef.of(db, spec.labels[0], None).db
    # seeds, sizes and arms may grow on a resume: they add models, not change the plan
    # (an arm already planned must keep its declaration: the plan checks that)
    fixed = spec.model_dump(
        exclude={
            "seeds": True,
            "sizes": True,
            "sizes_per_label": True,
            "arms_per_label": True,
            "arms": True,
            "train": {"device"},
        }
    )
    check_settings(out, "experiment", {"spec": fixed})
    plan = load_plan(db_text, spec, out)
    table = ResultTable(out / "results.csv", RESULT_COLUMNS)
    done = {
        (r["label"], r["arm"], int(r["size"]), int(r["seed"]))
        for r in latest(table.rows())
        if not (retry_failed and r["status"] == "failed")
    }
    todo = list(plan_jobs(db_text, spec, plan, done=done, keep=keep, cache_dir=cache_dir))
    total = len(todo) + len(done)
    logger.info("experiment %s: %d models to train, %d recorded", out, len(todo), len(done))
    ran = 0
    if todo:
        # build the graph cache before the workers read it: one file serves every label
        # of one selection and cutoff, so the first label's load warms it for the rest
        cutoffs = {spec.arm_settings(a, label).cutoff for label in spec.labels for a in spec.arms}
        for cutoff in sorted(cutoffs):
            DatasetRef.of(db_text, spec.labels[0], "labeled=1", cutoff, cache_dir).load()
        with TaskPool(ClusterSpec(workers, scheduler, connect_timeout)) as pool:
            for job, outcome in pool.imap_unordered(train_job, iter(todo), on_error=crashed):
                if outcome.files:
                    write_files(out / "runs" / job.key, outcome.files)
                table.append_many(_rows_of(job, outcome))
                ran += 1
                if progress is not None:
                    progress(len(done) + ran, total)
    rows = latest(table.rows())
    differences = [d.as_row() for d in paired_differences(rows, arms=[a.name for a in spec.arms])]
    ResultTable(out / "differences.csv", DIFFERENCE_COLUMNS).path.unlink(missing_ok=True)
    ResultTable(out / "differences.csv", DIFFERENCE_COLUMNS).append_many(differences)
    return ExperimentResult(out, plan, rows, differences, ran, len(done))
