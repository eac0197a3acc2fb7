"""The MD vs phonon comparison (paper SI Table 1), trained on Dask.

One model per scheme (same architecture and hyperparameters), each trained on an
equal number ``n`` of that scheme's structures (default: as many as the smallest
scheme has). Each is scored on its own training, validation and test splits and on
the other scheme's ``n`` structures — the table's "complementary" column.

Folder::

    OUT/
      study.json         settings; a resume must match them
      selection.json     the n row ids drawn from each scheme
      comparison.csv     train_scheme, seed, eval_set, eval_scheme, status, mae, rmse, r2, n …
      comparison.md      the table (mean ± std over seeds when several)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError
from thermognn.studies.curves import seeded_rng
from thermognn.studies.jobs import DatasetRef, TrainJob, TrainOutcome, crashed, train_job
from thermognn.studies.records import (
    ResultTable,
    as_float,
    check_settings,
    read_json,
    write_json,
)
from thermognn.studies.tasks import ClusterSpec, TaskPool
from thermognn.studies.trials import TrainSettings

logger = logging.getLogger(__name__)

#: Columns of ``comparison.csv``.
COMPARISON_COLUMNS = (
    "train_scheme",
    "seed",
    "eval_set",
    "eval_scheme",
    "status",
    "mae",
    "rmse",
    "r2",
    "n",
    "epochs_run",
    "wall_time",
    "error",
)

#: Evaluation sets in table order (``complementary``: another scheme's structures).
EVAL_SETS = ("train", "val", "test", "complementary")


@dataclass
class ComparisonResult:
    """Outcome of :func:`run_md_comparison`.

    Attributes
    ----------
    out
        The study folder.
    n
        Structures per scheme.
    rows
        Every ``comparison.csv`` row.
    ran, skipped
        Models trained now; models already recorded.
    markdown
        The table as Markdown (also in ``comparison.md``).
    """

    out: Path
    n: int
    rows: list[dict[str, str]]
    ran: int
    skipped: int
    markdown: str


def select_equal(
    row_ids: Sequence[int],
    row_schemes: Sequence[str],
    schemes: Sequence[str],
    *,
    n: int | None,
    seed: int,
) -> dict[str, list[int]]:
    """``n`` seeded row ids of each scheme (default ``n``: the smallest scheme's count).

    Raises
    ------
    ThermognnError
        When a scheme has fewer than ``n`` labeled rows (the counts are listed).
    """
    ids = {
        s: sorted(int(r) for r, t in zip(row_ids, row_schemes, strict=True) if t == s)
        for s in schemes
    }
    counts = {s: len(v) for s, v in ids.items()}
    size = min(counts.values()) if n is None else int(n)
    short = {s: c for s, c in counts.items() if c < max(size, 3)}
    if short:
        raise ThermognnError(
            f"too few labeled structures for {max(size, 3)} per scheme: "
            + ", ".join(f"{s} has {c}" for s, c in counts.items())
        )
    return {
        s: sorted(seeded_rng(seed, "compare", s).permutation(np.asarray(v))[:size].tolist())
        for s, v in ids.items()
    }


def run_md_comparison(
    db: Any,
    *,
    out: str | Path,
    label: str = "band_gap",
    schemes: Sequence[str] = ("md", "phonon"),
    n: int | None = None,
    seeds: int = 1,
    model: str = "paper-1",
    hparams: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | str | None = "labeled=1",
    split: Sequence[float] = (0.7, 0.15, 0.15),
    epochs: int = 300,
    patience: int = 30,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "cpu",
    workers: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = 10.0,
    cutoff: float = 5.5,
    cache_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ComparisonResult:
    """Train one model per scheme on equal-sized sets; score each on the others' data.

    Parameters
    ----------
    db
        Study database with labeled rows of every scheme.
    out
        Study folder (resumed when it holds the same study).
    label
        Label to predict.
    schemes
        Schemes compared (two or more), e.g. ``("md", "phonon")``.
    n
        Structures per scheme (default: the smallest scheme's count).
    seeds
        Models per scheme (seed ``seed + k``: split and weights).
    model, hparams
        Architecture and hyperparameters, the same for every scheme.
    query
        ASE selection of the rows (default: labeled rows).
    split
        (train, val, test) fractions of each scheme's ``n`` structures.
    epochs, patience, batch_size, seed, device
        Training settings.
    workers, scheduler, connect_timeout, cutoff, cache_dir, progress
        As :func:`~thermognn.studies.run_sweep`.

    Returns
    -------
    ComparisonResult
        The rows and the Markdown table.
    """
    from thermognn.training import split_dataset

    if len(set(schemes)) < 2:
        raise ThermognnError(f"give two or more distinct schemes, got {list(schemes)}")
    if seeds < 1:
        raise ThermognnError(f"seeds must be ≥ 1, got {seeds}")
    out = Path(out)
    data = DatasetRef.of(db, label, query, cutoff, cache_dir)
    train = TrainSettings(epochs, patience, batch_size, seed, device)
    check_settings(
        out,
        "comparison",
        {
            **data.describe(),
            **train.recorded(),
            "schemes": list(schemes),
            "n": n,
            "model": model,
            "hparams": dict(hparams or {}),
            "split": list(split),
        },
    )
    selection = _load_selection(data, out, schemes, n, seed)
    size = len(next(iter(selection.values())))
    table = ResultTable(out / "comparison.csv", COMPARISON_COLUMNS)
    done = {(r["train_scheme"], int(r["seed"])) for r in table.rows()}
    keys = [(s, k) for s in schemes for k in range(seeds)]
    todo = [key for key in keys if key not in done]

    def jobs() -> Any:
        for scheme, k in todo:
            own = np.asarray(selection[scheme])
            parts = split_dataset(size, seed=seed + k, fractions=split).indices
            others = {s: selection[s] for s in schemes if s != scheme}
            test = sorted(own[parts["test"]].tolist() + [r for ids in others.values() for r in ids])
            yield TrainJob(
                key=f"{scheme}/{k}",
                data=data,
                model=model,
                hparams=dict(hparams or {}),
                split={
                    "train": own[parts["train"]].tolist(),
                    "val": own[parts["val"]].tolist(),
                    "test": test,
                },
                groups={"test": own[parts["test"]].tolist(), **others},
                seed=seed + k,
                epochs=epochs,
                patience=patience,
                batch_size=batch_size,
                device=device,
                info={"train_scheme": scheme, "seed": k},
            )

    ran = 0
    if todo:
        with TaskPool(ClusterSpec(workers, scheduler, connect_timeout)) as pool:
            for job, outcome in pool.imap_unordered(train_job, jobs(), on_error=crashed):
                table.append_many(comparison_rows(job, outcome, schemes))
                ran += 1
                if progress is not None:
                    progress(len(keys) - len(todo) + ran, len(keys))
    rows = table.rows()
    markdown = comparison_markdown(rows, label, size)
    (out / "comparison.md").write_text(markdown)
    return ComparisonResult(out, size, rows, ran, len(keys) - len(todo), markdown)


def _load_selection(
    data: DatasetRef, out: Path, schemes: Sequence[str], n: int | None, seed: int
) -> dict[str, list[int]]:
    dataset = data.load()  # also warms the graph cache the workers read
    path = out / "selection.json"
    if path.is_file():
        stored = {s: [int(r) for r in ids] for s, ids in read_json(path).items()}
        missing = set(r for ids in stored.values() for r in ids) - set(dataset.row_ids.tolist())
        if missing:
            raise ThermognnError(
                f"{path}: {len(missing)} selected rows left the data set; use another --out"
            )
        return stored
    selection = select_equal(dataset.row_ids.tolist(), dataset.schemes, schemes, n=n, seed=seed)
    write_json(path, selection)
    return selection


def comparison_rows(
    job: TrainJob, outcome: TrainOutcome, schemes: Sequence[str]
) -> list[dict[str, Any]]:
    """The ``comparison.csv`` rows of one model: train, val, test and each other scheme."""
    scheme = job.info["train_scheme"]
    base = {
        "train_scheme": scheme,
        "seed": job.info["seed"],
        "status": outcome.status,
        "epochs_run": outcome.epochs_run,
        "wall_time": round(outcome.wall_time, 3),
        "error": " ".join(outcome.error.split())[:400],
    }
    sets = [("train", scheme, "train"), ("val", scheme, "val"), ("test", scheme, "test")]
    sets += [("complementary", other, other) for other in schemes if other != scheme]
    rows = []
    for eval_set, eval_scheme, source in sets:
        ids = job.split[source] if source in ("train", "val") else job.groups[source]
        if not ids:
            continue
        metrics = outcome.group_metrics.get(source) if source not in ("train", "val") else None
        metrics = metrics if metrics is not None else outcome.metrics.get(source, {})
        rows.append(
            {
                **base,
                "eval_set": eval_set,
                "eval_scheme": eval_scheme,
                "n": len(ids),
                **{k: float(metrics.get(k, math.nan)) for k in ("mae", "rmse", "r2")},
            }
        )
    return rows


def comparison_markdown(rows: Sequence[Mapping[str, str]], label: str, n: int) -> str:
    """SI Table 1 as Markdown: mean (± std over seeds) of MAE, RMSE and R²."""
    from thermognn.graphs import LABEL_UNITS

    unit = LABEL_UNITS.get(label, "")
    ok = [r for r in rows if r["status"] in ("ok", "diverged")]
    groups: dict[tuple[str, str, str], list[Mapping[str, str]]] = {}
    for r in ok:
        groups.setdefault((r["train_scheme"], r["eval_set"], r["eval_scheme"]), []).append(r)
    order = {name: k for k, name in enumerate(EVAL_SETS)}
    failed = sorted(
        {(r["train_scheme"], r["seed"]) for r in rows}
        - {(r["train_scheme"], r["seed"]) for r in ok}
    )
    lines = [
        f"{label}: one model per scheme, trained on {n} of its structures (train/val/test "
        f"split); complementary = another scheme's {n} structures.",
        *([f"Failed runs (scheme, seed): {failed}."] if failed else []),
        "",
        f"| trained on | evaluated on | data | MAE ({unit}) | RMSE ({unit}) | R² | n | seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (scheme, eval_set, eval_scheme), members in sorted(
        groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9), kv[0][2])
    ):
        cells = [_mean_std([as_float(m[k]) for m in members]) for k in ("mae", "rmse", "r2")]
        lines.append(
            f"| {scheme} | {eval_set} | {eval_scheme} | "
            + " | ".join(cells)
            + f" | {members[0]['n']} | {len(members)} |"
        )
    return "\n".join(lines) + "\n"


def _mean_std(values: list[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "–"
    if len(finite) == 1:
        return f"{finite[0]:.4g}"
    return f"{np.mean(finite):.4g} ± {np.std(finite, ddof=1):.2g}"
