"""Learning curves with cross-tests (paper Fig. 4), trained on Dask.

For each scheme (e.g. ``phonon`` and ``random``) a fixed test set is reserved first
(the paper kept 250 structures). Then, for each training size and seed, a model is
trained on that many structures of one scheme — drawn from its non-reserved pool, a
validation set carved from the same pool — and tested on every scheme's reserved set
and on their union (``combined``): its own scheme, the complementary one(s), and the
combined set. The combined-training baseline trains on both pools together.

Folder::

    OUT/
      study.json            settings; a resume must match them
      reserved.json         reserved test row ids and the training pool of each scheme
      curves.csv            tidy table: train_scheme, size, seed, test_set, relation,
                            status, mae, rmse, r2, n, … (appended as runs finish)
      learning_curves.png   mean ± spread vs size; one panel per test set and metric,
                            one line per training scheme

Selections are nested: for one seed, the training set of a size contains those of the
smaller sizes (one seeded permutation of the pool, cut at each size), and the
validation set is taken from the other end of the same permutation.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError
from thermognn.studies.jobs import DatasetRef, TrainJob, TrainOutcome, crashed, train_job
from thermognn.studies.records import ResultTable, check_settings, read_json, write_json
from thermognn.studies.tasks import ClusterSpec, TaskPool
from thermognn.studies.trials import TrainSettings

logger = logging.getLogger(__name__)

#: Name of the union of the schemes, as a training scheme and as a test set.
COMBINED = "combined"

#: Columns of ``curves.csv``.
CURVE_COLUMNS = (
    "train_scheme",
    "size",
    "seed",
    "test_set",
    "relation",
    "status",
    "mae",
    "rmse",
    "r2",
    "n",
    "n_train",
    "n_val",
    "epochs_run",
    "wall_time",
    "error",
)

#: Most seeds per point (the paper used up to 10).
MAX_SEEDS = 10


def seeded_rng(seed: int, *tags: str | int) -> np.random.Generator:
    """A generator seeded by ``seed`` and tags (independent of the order schemes come in)."""
    words = [int(seed)] + [t if isinstance(t, int) else zlib.crc32(t.encode()) for t in tags]
    return np.random.default_rng(np.random.SeedSequence(words))


@dataclass
class CurvePlan:
    """Reserved test sets, training pools and sizes of a learning-curve study.

    Attributes
    ----------
    schemes
        The schemes compared.
    seed
        Base seed of the reservation and the selections.
    test_size
        Structures reserved per scheme for testing.
    val_fraction
        Validation structures per training structure (carved from the pool).
    reserved
        Reserved test row ids per scheme.
    pools
        Non-reserved row ids per scheme (what training draws from).
    sizes
        Training sizes per training scheme (each scheme, plus ``combined``).
    """

    schemes: tuple[str, ...]
    seed: int
    test_size: int
    val_fraction: float
    reserved: dict[str, list[int]]
    pools: dict[str, list[int]]
    sizes: dict[str, list[int]] = field(default_factory=dict)

    def n_val(self, size: int) -> int:
        """Validation structures that go with ``size`` training structures."""
        return max(1, int(round(self.val_fraction * size)))

    def pool(self, train_scheme: str) -> list[int]:
        """Row ids a training scheme draws from (``combined``: every pool)."""
        if train_scheme == COMBINED:
            return sorted(r for s in self.schemes for r in self.pools[s])
        return self.pools[train_scheme]

    def test_ids(self) -> list[int]:
        """Every reserved row id: the test split of every run."""
        return sorted(r for s in self.schemes for r in self.reserved[s])

    def selection(self, train_scheme: str, size: int, replica: int) -> dict[str, list[int]]:
        """Train/val/test row ids of one run (seeded by the plan's seed and ``replica``)."""
        pool = np.asarray(self.pool(train_scheme), dtype=np.int64)
        n_val = self.n_val(size)
        if size + n_val > len(pool):
            raise ThermognnError(
                f"{train_scheme}: size {size} + {n_val} validation > {len(pool)} in the pool"
            )
        order = seeded_rng(self.seed, "select", train_scheme, replica).permutation(pool)
        return {
            "train": sorted(order[:size].tolist()),
            "val": sorted(order[len(order) - n_val :].tolist()),
            "test": self.test_ids(),
        }

    def max_size(self, train_scheme: str) -> int:
        """Largest training size whose validation set still fits in the pool."""
        size = len(self.pool(train_scheme))
        while size > 0 and size + self.n_val(size) > len(self.pool(train_scheme)):
            size -= 1
        return size

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``reserved.json``; sizes are not stored)."""
        return {
            "schemes": list(self.schemes),
            "seed": self.seed,
            "test_size": self.test_size,
            "val_fraction": self.val_fraction,
            "reserved": self.reserved,
            "pools": self.pools,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CurvePlan:
        """Read :meth:`to_dict`'s form."""
        return cls(
            tuple(data["schemes"]),
            int(data["seed"]),
            int(data["test_size"]),
            float(data["val_fraction"]),
            {k: [int(r) for r in v] for k, v in data["reserved"].items()},
            {k: [int(r) for r in v] for k, v in data["pools"].items()},
        )


def reserve_tests(
    row_ids: Sequence[int],
    row_schemes: Sequence[str],
    *,
    schemes: Sequence[str],
    test_size: int,
    seed: int,
    val_fraction: float = 0.15,
) -> CurvePlan:
    """Reserve a seeded test set of ``test_size`` structures per scheme.

    Raises
    ------
    ThermognnError
        When a scheme has no rows, or too few to reserve the test set and still train.
    """
    found = sorted(set(row_schemes))
    reserved, pools = {}, {}
    for scheme in schemes:
        ids = sorted(int(r) for r, s in zip(row_ids, row_schemes, strict=True) if s == scheme)
        if not ids:
            raise ThermognnError(f"no labeled rows of scheme {scheme!r} (the data has {found})")
        if len(ids) < test_size + 2:
            raise ThermognnError(
                f"scheme {scheme!r} has {len(ids)} labeled structures, too few to reserve "
                f"{test_size} for testing and still train (lower --test-size)"
            )
        order = seeded_rng(seed, "reserve", scheme).permutation(np.asarray(ids, dtype=np.int64))
        reserved[scheme] = sorted(order[:test_size].tolist())
        pools[scheme] = sorted(order[test_size:].tolist())
    return CurvePlan(tuple(schemes), seed, test_size, val_fraction, reserved, pools)


def plan_sizes(
    plan: CurvePlan, sizes: Sequence[int], *, combined: bool = True, on_short: str = "error"
) -> CurvePlan:
    """Fill ``plan.sizes``: the requested sizes per training scheme, checked or clipped.

    Parameters
    ----------
    plan
        The plan (reserved sets and pools).
    sizes
        Requested training sizes.
    combined
        Add the combined-training baseline.
    on_short
        ``error``: a scheme whose pool cannot hold the largest size (plus its
        validation set) is an error with the counts; ``clip``: such sizes are replaced
        by the largest that fits, with a warning.
    """
    if on_short not in ("error", "clip"):
        raise ThermognnError(f"on_short must be 'error' or 'clip', got {on_short!r}")
    wanted = sorted({int(s) for s in sizes})
    if not wanted or wanted[0] < 1:
        raise ThermognnError(f"training sizes must be ≥ 1, got {list(sizes)}")
    plan.sizes = {}
    for scheme in plan.schemes + ((COMBINED,) if combined else ()):
        largest = plan.max_size(scheme)
        short = [s for s in wanted if s > largest]
        if short and on_short == "error":
            s = short[-1]
            have = len(plan.pool(scheme)) + (
                plan.test_size * len(plan.schemes) if scheme == COMBINED else plan.test_size
            )
            raise ThermognnError(
                f"scheme {scheme!r} has {have} labeled structures: {len(plan.pool(scheme))} "
                f"after reserving the test set, fewer than the {s} + {plan.n_val(s)} "
                f"(training + validation) that size {s} needs; the largest size that fits is "
                f"{largest} (lower --sizes or --test-size, or clip with --on-short clip)"
            )
        if short:
            logger.warning(
                "scheme %s: sizes %s clipped to %d (the pool holds %d)",
                scheme,
                short,
                largest,
                len(plan.pool(scheme)),
            )
        plan.sizes[scheme] = sorted({min(s, largest) for s in wanted if min(s, largest) >= 1})
    return plan


def relation(train_scheme: str, test_set: str) -> str:
    """How a test set relates to the training scheme (Fig. 4's panels)."""
    if test_set == train_scheme:
        return "own"
    if test_set == COMBINED:
        return "combined"
    return "part" if train_scheme == COMBINED else "complementary"


@dataclass
class CurveResult:
    """Outcome of :func:`run_learning_curves`.

    Attributes
    ----------
    out
        The study folder.
    plan
        Reserved sets, pools and sizes.
    rows
        Every ``curves.csv`` row.
    ran, skipped
        Runs trained now; runs already recorded.
    figures
        Figures written.
    """

    out: Path
    plan: CurvePlan
    rows: list[dict[str, str]]
    ran: int
    skipped: int
    figures: list[Path] = field(default_factory=list)


def run_learning_curves(
    db: Any,
    *,
    out: str | Path,
    label: str = "band_gap",
    schemes: Sequence[str] = ("phonon", "random"),
    sizes: Sequence[int] = (100, 250, 500, 1000),
    seeds: int = 5,
    test_size: int = 250,
    model: str = "paper-1",
    hparams: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | str | None = "labeled=1",
    combined: bool = True,
    val_fraction: float = 0.15,
    on_short: str = "error",
    epochs: int = 300,
    patience: int = 30,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "cpu",
    workers: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = 10.0,
    spread: str = "std",
    cutoff: float = 5.5,
    cache_dir: str | Path | None = None,
    plots: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> CurveResult:
    """Learning curves with cross-tests (paper Fig. 4).

    Parameters
    ----------
    db
        Study database holding labeled rows of every scheme.
    out
        Study folder; an existing one with the same settings is resumed (more sizes
        or seeds may be added on a resume).
    label
        Label to predict.
    schemes
        Schemes compared (two or more), e.g. ``("phonon", "random")``.
    sizes
        Training sizes (structures).
    seeds
        Runs per point (1–10); run ``k`` uses seed ``seed + k`` for its weights and
        its own seeded selection.
    test_size
        Structures reserved per scheme for testing (the paper kept 250).
    model, hparams
        Architecture and hyperparameters (``lr``, ``hidden``, ``dropout`` …), e.g. a
        sweep's best (:func:`~thermognn.studies.trials.best_hparams`).
    query
        ASE selection of the rows (default: labeled rows).
    combined
        Also train on both schemes together (the baseline).
    val_fraction
        Validation structures per training structure, carved from the pool.
    on_short
        ``error`` or ``clip`` when a scheme is too small for the largest size.
    epochs, patience, batch_size, seed, device
        Training settings.
    workers, scheduler, connect_timeout
        As :func:`~thermognn.studies.run_sweep`.
    spread
        Band of the figure: ``std`` (mean ± standard deviation) or ``minmax``.
    cutoff, cache_dir
        Graph cutoff (Å) and graph cache folder.
    plots
        Write the figure.
    progress
        Called as ``progress(done, total)`` after each run.

    Returns
    -------
    CurveResult
        The plan, every recorded row, and how many runs ran now.
    """
    if not 1 <= seeds <= MAX_SEEDS:
        raise ThermognnError(f"seeds must be 1…{MAX_SEEDS}, got {seeds}")
    if len(set(schemes)) < 2 or COMBINED in schemes:
        raise ThermognnError(
            f"give two or more distinct schemes (not {COMBINED!r}), got {list(schemes)}"
        )
    if test_size < 1 or not 0 < val_fraction < 1:
        raise ThermognnError("test_size must be ≥ 1 and val_fraction in (0, 1)")
    out = Path(out)
    data = DatasetRef.of(db, label, query, cutoff, cache_dir)
    train = TrainSettings(epochs, patience, batch_size, seed, device)
    check_settings(
        out,
        "curves",
        {
            **data.describe(),
            **train.recorded(),
            "schemes": list(schemes),
            "test_size": test_size,
            "val_fraction": val_fraction,
            "model": model,
            "hparams": dict(hparams or {}),
        },
    )
    plan = plan_sizes(
        _load_plan(data, out, schemes, test_size, seed, val_fraction),
        sizes,
        combined=combined,
        on_short=on_short,
    )
    table = ResultTable(out / "curves.csv", CURVE_COLUMNS)
    done = {(r["train_scheme"], int(r["size"]), int(r["seed"])) for r in table.rows()}
    keys = [(ts, size, k) for ts in plan.sizes for size in plan.sizes[ts] for k in range(seeds)]
    todo = [key for key in keys if key not in done]
    logger.info(
        "learning curves %s: %d runs to train, %d recorded", out, len(todo), len(keys) - len(todo)
    )

    def jobs() -> Any:
        for ts, size, k in todo:
            yield TrainJob(
                key=f"{ts}/{size}/{k}",
                data=data,
                split=plan.selection(ts, size, k),
                model=model,
                hparams=dict(hparams or {}),
                seed=seed + k,
                epochs=epochs,
                patience=patience,
                batch_size=batch_size,
                device=device,
                groups=dict(plan.reserved),
                info={"train_scheme": ts, "size": size, "seed": k},
            )

    ran = 0
    if todo:
        with TaskPool(ClusterSpec(workers, scheduler, connect_timeout)) as pool:
            for job, outcome in pool.imap_unordered(train_job, jobs(), on_error=crashed):
                table.append_many(curve_rows(job, outcome, plan.schemes))
                ran += 1
                if progress is not None:
                    progress(len(keys) - len(todo) + ran, len(keys))
    result = CurveResult(out, plan, table.rows(), ran, len(keys) - len(todo))
    if plots:
        from thermognn.studies.plots import plot_learning_curves

        figure = plot_learning_curves(
            result.rows, out / "learning_curves.png", spread=spread, unit=_unit(label)
        )
        if figure is not None:
            result.figures.append(figure)
    return result


def _unit(label: str) -> str:
    from thermognn.graphs import LABEL_UNITS

    return str(LABEL_UNITS.get(label, ""))


def _load_plan(
    data: DatasetRef,
    out: Path,
    schemes: Sequence[str],
    test_size: int,
    seed: int,
    val_fraction: float,
) -> CurvePlan:
    """The stored plan of a resumed study, or a new reservation (stored at once)."""
    dataset = data.load()  # also warms the graph cache the workers read
    path = out / "reserved.json"
    if path.is_file():
        plan = CurvePlan.from_dict(read_json(path))
        present = set(dataset.row_ids.tolist())
        missing = [
            r
            for ids in (*plan.reserved.values(), *plan.pools.values())
            for r in ids
            if r not in present
        ]
        if missing:
            raise ThermognnError(
                f"{path}: {len(missing)} stored rows are no longer in the data set "
                f"(e.g. {missing[:5]}); the database changed — use another --out"
            )
        return plan
    plan = reserve_tests(
        dataset.row_ids.tolist(),
        dataset.schemes,
        schemes=schemes,
        test_size=test_size,
        seed=seed,
        val_fraction=val_fraction,
    )
    write_json(path, plan.to_dict())
    return plan


def curve_rows(
    job: TrainJob, outcome: TrainOutcome, schemes: Sequence[str]
) -> list[dict[str, Any]]:
    """The tidy ``curves.csv`` rows of one run: one per test set."""
    info = job.info
    base = {
        "train_scheme": info["train_scheme"],
        "size": info["size"],
        "seed": info["seed"],
        "status": outcome.status,
        "n_train": len(job.split["train"]),
        "n_val": len(job.split["val"]),
        "epochs_run": outcome.epochs_run,
        "wall_time": round(outcome.wall_time, 3),
        "error": " ".join(outcome.error.split())[:400],
    }
    rows = []
    for test_set in (*schemes, COMBINED):
        split = "test" if test_set == COMBINED else test_set
        rows.append(
            {
                **base,
                "test_set": test_set,
                "relation": relation(info["train_scheme"], test_set),
                **{name: outcome.metric(split, name) for name in ("mae", "rmse", "r2")},
                "n": len(job.groups[test_set])
                if test_set in job.groups
                else len(job.split["test"]),
            }
        )
    return rows
