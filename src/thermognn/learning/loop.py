"""``thermognn learn``: label only what the model needs, round after round, resumably.

One learning run, named ``name`` (default: the output folder's name), lives in the
study database and in its folder ``OUT``:

1. draw a candidate pool of ``pool`` configurations with a sampling scheme (sampling
   set ``al-<name>``; an idempotent batch, so a rerun draws nothing new);
2. round 0: choose ``initial`` candidates at random;
3. label the chosen rows with the labeling runner on Dask (only the client writes; a
   killed run loses at most the rows in flight);
4. train a deep ensemble on the labeled chosen rows (``OUT/round-R``; finished members
   are kept on a rerun);
5. stop on the label budget, the target validation MAE or an exhausted pool; else
   choose ``per_round`` candidates by the acquisition (``OUT/round-R+1/selection.json``
   is written first, then every chosen row records why it was chosen), and go to 3.

Every chosen row carries ``al_run`` (the run's name), ``al_round``, ``al_reason``
(``initial`` or the acquisition), ``al_rank`` and, from round 1 on, ``al_std`` (the
calibrated ensemble spread at the time, label unit), ``al_score`` and ``al_distance``
(descriptor distance to the nearest labeled or earlier-picked cell, where the
acquisition uses one). ``OUT/learn.csv`` has one line per round; ``OUT/learn.json``
the settings and the outcome. Rerunning the same command resumes where it stopped;
rerunning with a larger budget continues.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.database import StudyDatabase
from thermognn.errors import ThermognnError
from thermognn.learning.acquisition import acquire, standardise, structure_descriptors
from thermognn.learning.settings import LearnSettings
from thermognn.sampling import SamplingSpec, sample_configurations
from thermognn.settings import TrainSettings
from thermognn.training.checkpoint import write_json

log = logging.getLogger(__name__)

ROUND_COLUMNS = (
    "round",
    "labels_spent",
    "labeled",
    "failed",
    "val_mae",
    "val_coverage_1sigma",
    "pool_left",
    "pool_mean_std",
    "pool_max_std",
    "scale",
)


@dataclass
class LearnResult:
    """Outcome of :func:`run_learning`.

    Attributes
    ----------
    out
        The run folder.
    rounds
        One dict per round (:data:`ROUND_COLUMNS`).
    stop_reason
        ``budget``, ``target`` or ``pool``.
    final_model
        The last round's ensemble folder.
    """

    out: Path
    rounds: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""
    final_model: Path | None = None


def _run_name(name: str | None, out: Path) -> str:
    text = re.sub(r"[^A-Za-z0-9_.+-]", "-", name or out.resolve().name)
    return text if text[:1].isalpha() else f"al{text}"


class _Learner:
    """State of one learning run (internal to :func:`run_learning`)."""

    def __init__(self, db: StudyDatabase, out: Path, name: str, settings: LearnSettings) -> None:
        self.db, self.out, self.name, self.settings = db, out, name, settings
        self._graphs: dict[int, Any] = {}

    def pool_ids(self, spec: SamplingSpec) -> list[int]:
        sample_configurations(self.db, spec)
        return sorted(int(r.id) for r in self.db.select(batch=spec.batch_key()))

    def chosen(self) -> dict[int, dict[str, Any]]:
        """Chosen rows: id → key-value pairs."""
        return {int(r.id): dict(r.key_value_pairs) for r in self.db.select(al_run=self.name)}

    def apply(self, selection: Path) -> None:
        """Record a written selection on its rows (idempotent)."""
        done = {int(r.id) for r in self.db.select(al_run=self.name)}
        for entry in json.loads(selection.read_text())["rows"]:
            row_id = int(entry.pop("id"))
            if row_id in done:
                continue
            values = {k: v for k, v in entry.items() if v is not None and v == v}
            self.db.ase.update(row_id, al_run=self.name, **values)

    def graphs(self, ids: list[int], cutoff: float) -> list[Any]:
        from thermognn.graphs import build_graph

        for i in ids:
            if i not in self._graphs:
                self._graphs[i] = build_graph(self.db.ase.get(id=i).toatoms(), cutoff)
        return [self._graphs[i] for i in ids]


def run_learning(
    db: StudyDatabase | str | Path,
    out: str | Path,
    *,
    sampling: SamplingSpec,
    settings: LearnSettings | None = None,
    train: TrainSettings | None = None,
    labeler: str = "gfn1-xtb",
    labeler_options: dict[str, Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    name: str | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> LearnResult:
    """Run (or resume) an active-learning loop; see the module docstring.

    Parameters
    ----------
    db
        Study database (path, URL or object).
    out
        Run folder (rounds' ensembles, ``learn.csv``, ``learn.json``).
    sampling
        How the candidate pool is drawn (its ``n`` is replaced by ``settings.pool``,
        its ``sample_set`` by ``al-<name>``).
    settings
        :class:`LearnSettings` (initial, pool, per_round, budget, target_mae, ensemble,
        acquisition …).
    train
        The members' training recipe (its ``split`` becomes train/validation only).
    labeler, labeler_options
        Labeler name (``gfn1-xtb`` by default) and its options.
    workers, scheduler
        Dask workers of a LocalCluster kept for the whole run (``0``: label in this
        process), or the address of an existing scheduler.
    name
        Name of the run in the database (``al_run``); default: the folder's name.
    seed
        Seed of the pool, the initial draw, random picks and the members.
    progress
        Called with a one-line status at each step.
    """
    settings = settings or LearnSettings()
    out = Path(out)
    name = _run_name(name, out)
    if not isinstance(db, StudyDatabase):
        db = StudyDatabase(db)
    spec = replace(sampling, n=settings.pool, sample_set=f"al-{name}", seed=seed)
    _check_spec(spec)
    recipe = TrainSettings.of(
        train, seed=seed, split=(1 - settings.val_fraction, settings.val_fraction, 0.0)
    )
    out.mkdir(parents=True, exist_ok=True)
    batch = spec.batch_key()
    if (out / "learn.json").is_file():
        before = json.loads((out / "learn.json").read_text()).get("pool_batch")
        if before not in (None, batch):
            raise ThermognnError(
                f"{out}: this run's candidate pool was drawn with other sampling settings "
                f"(batch {before}, now {batch}); resume with the same options or a new --out"
            )
    write_json(
        out / "learn.json",
        {
            "name": name,
            "pool_batch": batch,
            "sampling": {k: v for k, v in asdict(spec).items() if v is not None},
            "settings": settings.model_dump(),
            "train": recipe.model_dump(),
        },
    )
    say = progress or (lambda text: log.info("%s", text))
    learner = _Learner(db, out, name, settings)
    say(f"candidate pool: {settings.pool} {spec.scheme} configurations of {spec.material}")
    pool = learner.pool_ids(spec)
    first = out / "round-0" / "selection.json"
    if not first.is_file():
        rng = np.random.default_rng([seed, 0])
        picked = rng.choice(pool, size=settings.initial, replace=False)
        rows = [
            {"id": int(i), "al_round": 0, "al_reason": "initial", "al_rank": k}
            for k, i in enumerate(picked)
        ]
        write_json(first, {"round": 0, "acquisition": "initial", "rows": rows})
    client = _Cluster(workers, scheduler)
    try:
        return _rounds(learner, pool, recipe, labeler, labeler_options, client, seed, say)
    finally:
        client.close()


class _Cluster:
    """One Dask LocalCluster for every labeling step (or an address, or none)."""

    def __init__(self, workers: int | None, scheduler: str | None) -> None:
        self.workers, self.scheduler, self._cluster = workers, scheduler, None

    def address(self) -> tuple[int | None, str | None]:
        if self.scheduler or self.workers == 0:
            return self.workers, self.scheduler
        if self._cluster is None:
            from thermognn.parallel import ClusterSpec, open_client

            client, self._cluster = open_client(ClusterSpec(self.workers, None))
            client.close()
        return None, self._cluster.scheduler_address  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()


def _rounds(
    learner: _Learner,
    pool: list[int],
    recipe: TrainSettings,
    labeler: str,
    options: dict[str, Any] | None,
    cluster: _Cluster,
    seed: int,
    say: Callable[[str], None],
) -> LearnResult:
    from thermognn.labels import label_database
    from thermognn.training.ensemble import EnsemblePredictor, train_ensemble

    s, out = learner.settings, learner.out
    result = LearnResult(out)
    descriptors: dict[int, np.ndarray] | None = None
    r = 0
    while True:
        selection = out / f"round-{r}" / "selection.json"
        learner.apply(selection)
        workers, address = cluster.address()
        say(f"round {r}: labeling the chosen rows ({labeler})")
        label_database(
            learner.db,
            labeler=labeler,
            options=options,
            workers=workers,
            scheduler=address,
            query=f"al_run={learner.name}",
        )
        every = learner.chosen()  # later rounds too, when resuming
        chosen = {i: kv for i, kv in every.items() if int(kv.get("al_round", 0)) <= r}
        labeled = sorted(i for i, kv in chosen.items() if kv.get("labeled"))
        run_dir = out / f"round-{r}"
        say(f"round {r}: training an ensemble of {s.ensemble} on {len(labeled)} labeled cells")
        if not (run_dir / "ensemble.json").is_file():
            train_ensemble(
                learner.db.url,
                labels=[s.label],
                out=run_dir,
                size=s.ensemble,
                settings=recipe,
                query=f"al_run={learner.name},labeled=1,al_round<={r}",
                progress=False,
                plot=False,
            )
        record = json.loads((run_dir / "ensemble.json").read_text())
        calib = record["calibration"]["per_label"][s.label]
        metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"][s.label]
        remaining = [i for i in pool if i not in every]
        predictor = EnsemblePredictor.from_run(run_dir)
        graphs = learner.graphs(remaining, predictor.record.cutoff)
        spread = predictor.predict_graphs_std(graphs)[1][:, 0] if graphs else np.zeros(0)
        row = {
            "round": r,
            "labels_spent": len(chosen),
            "labeled": len(labeled),
            "failed": len(chosen) - len(labeled),
            "val_mae": metrics["val"]["mae"],
            "val_coverage_1sigma": calib["calibrated_coverage_1sigma"],
            "pool_left": len(remaining),
            "pool_mean_std": float(spread.mean()) if len(spread) else float("nan"),
            "pool_max_std": float(spread.max()) if len(spread) else float("nan"),
            "scale": calib["scale"],
        }
        result.rounds = [x for x in result.rounds if x["round"] != r] + [row]
        _write_rounds(out, result.rounds)
        result.final_model = run_dir
        nxt = out / f"round-{r + 1}" / "selection.json"
        stop = "" if nxt.is_file() else _stop(s, row)  # a written selection is carried out
        if stop:
            result.stop_reason = stop
            _finish(out, result)
            say(f"stopped after round {r}: {stop}")
            return result
        if not nxt.is_file():
            if descriptors is None and s.acquisition in ("diverse", "coverage", "design"):
                table = standardise(
                    structure_descriptors(learner.graphs(pool, predictor.record.cutoff))
                )
                descriptors = dict(zip(pool, table, strict=True))
            k = min(s.per_round, s.budget - len(chosen))
            _select(nxt, r + 1, s, remaining, spread, labeled, descriptors, k, seed)
        r += 1


def _stop(s: LearnSettings, row: dict[str, Any]) -> str:
    if row["labels_spent"] >= s.budget:
        return "budget"
    if s.target_mae is not None and row["val_mae"] == row["val_mae"]:
        if row["val_mae"] <= s.target_mae:
            return "target"
    if row["pool_left"] == 0:
        return "pool"
    return ""


def _select(
    path: Path,
    round_: int,
    s: LearnSettings,
    remaining: list[int],
    spread: np.ndarray,
    labeled: list[int],
    descriptors: dict[int, np.ndarray] | None,
    k: int,
    seed: int,
) -> None:
    """Choose the next batch and write its selection file (before touching the rows)."""
    cand = lab = None
    if descriptors is not None:
        cand = np.stack([descriptors[i] for i in remaining])
        lab = np.stack([descriptors[i] for i in labeled]) if labeled else cand[:0]
    rng = np.random.default_rng([seed, round_])
    got = acquire(s.acquisition, k, spread, cand, lab, rng=rng, shortlist=s.shortlist)
    rows = [
        {
            "id": int(remaining[p]),
            "al_round": round_,
            "al_reason": s.acquisition,
            "al_rank": rank,
            "al_std": float(got.spread[rank]),
            "al_score": float(got.score[rank]),
            "al_distance": float(got.distance[rank]),
        }
        for rank, p in enumerate(got.picked)
    ]
    write_json(path, {"round": round_, "acquisition": s.acquisition, "rows": rows})


def _write_rounds(out: Path, rounds: list[dict[str, Any]]) -> None:
    with (out / "learn.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ROUND_COLUMNS)
        writer.writeheader()
        writer.writerows(sorted(rounds, key=lambda x: x["round"]))


def _finish(out: Path, result: LearnResult) -> None:
    record = json.loads((out / "learn.json").read_text())
    record.update(
        stop_reason=result.stop_reason,
        final_model=str(result.final_model),
        rounds=sorted(result.rounds, key=lambda x: x["round"]),
    )
    write_json(out / "learn.json", record)


def _check_spec(spec: SamplingSpec) -> None:
    """Raise on a sampling spec the loop cannot use (trajectory schemes)."""
    if spec.scheme_entry.draw is None:
        raise ThermognnError(
            f"learn: scheme {spec.scheme} samples trajectories; choose a draw scheme"
        )
