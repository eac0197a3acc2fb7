"""Explain several models on the same test rows; per species pair, intervals across models.

One explained model is one draw: the share of Ag–S bonds above the paper's 0.86
threshold was 4.1 % in one run and 1.4 % in a fresh one. So the numbers worth quoting
come from several models of one setting (e.g. its seeds), all explained on the *same*
rows, which none of them trained on:

* :func:`thermognn.explain.rows.select_rows` reads each run folder's ``split.json`` and
  takes the test rows every model shares (or checks explicit row ids against every
  training split);
* :func:`explain_models` explains each model on those rows (GNNExplainer, several
  explainer seeds, see :mod:`thermognn.explain.importance`);
* :class:`ModelExplanations` summarises per species pair: per model the mean importance,
  the fraction above the threshold and the bond count; across models their mean and a
  95 % interval (Student-t, or a seeded bootstrap over models).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError
from thermognn.explain.importance import (
    PAPER_THRESHOLD,
    BondImportance,
    explain_run,
    species_pair_summary,
)
from thermognn.explain.rows import (
    RunDirs,
    check_runs,
    load_rows,
    model_names,
    query_ids,
    select_rows,
)

log = logging.getLogger(__name__)

#: Interval methods across models.
INTERVAL_METHODS: tuple[str, ...] = ("t", "bootstrap")

#: Per-model statistics of a species pair, in the tidy table's column order.
STATISTICS: tuple[str, ...] = ("mean_importance", "frac_above", "n_edges")


def interval(
    values: Sequence[float] | np.ndarray,
    *,
    method: str = "t",
    confidence: float = 0.95,
    seed: int = 0,
    n_boot: int = 10_000,
) -> tuple[float, float]:
    """Confidence interval of the mean of a few values (one per model).

    Parameters
    ----------
    values
        One value per model.
    method
        ``"t"``: mean ± t_{(1+c)/2, n−1} · s / √n (s the sample standard deviation);
        ``"bootstrap"``: percentile interval of the means of ``n_boot`` resamples of
        the models with replacement, drawn from ``numpy.random.default_rng(seed)``.
    confidence
        Coverage, in (0, 1).
    seed, n_boot
        Bootstrap seed and number of resamples.

    Returns
    -------
    tuple of float
        (low, high); (nan, nan) for fewer than two values.
    """
    v = np.asarray(values, dtype=float).reshape(-1)
    if method not in INTERVAL_METHODS:
        raise ThermognnError(f"interval method must be one of {INTERVAL_METHODS}, not {method!r}")
    if not 0.0 < confidence < 1.0:
        raise ThermognnError(f"confidence must lie in (0, 1), got {confidence}")
    if v.size < 2:
        return (float("nan"), float("nan"))
    if method == "t":
        from scipy.stats import t

        half = t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
        return (float(v.mean() - half), float(v.mean() + half))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return (float(lo), float(hi))


@dataclass
class ModelExplanations:
    """Bond importances of several models on the same structures, and their summary.

    Attributes
    ----------
    bonds
        ``{model name: [BondImportance per structure]}``.
    runs
        ``{model name: run folder}``.
    row_ids
        Database rows explained (``None`` for structures from files).
    threshold
        Importance above which a bond counts as important (paper: 0.86).
    method, confidence, seed
        Interval across models (see :func:`interval`).
    settings
        Explainer settings recorded in the summary (label, seeds, epochs).
    """

    bonds: dict[str, list[BondImportance]]
    runs: dict[str, str]
    row_ids: list[int] | None = None
    threshold: float = PAPER_THRESHOLD
    method: str = "t"
    confidence: float = 0.95
    seed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    def per_model(self) -> list[dict[str, Any]]:
        """Tidy rows ``pair, model, mean_importance, frac_above, n_edges`` (pair ``all`` too).

        ``n_edges`` counts atom pairs (bonds) over all structures: the parallel edges and
        both directions of a pair are merged into one (see
        :func:`thermognn.explain.importance.pair_importance`).
        """
        rows = []
        for model, bonds in self.bonds.items():
            for r in species_pair_summary(bonds, self.threshold):
                rows.append(
                    {
                        "pair": r["pair"],
                        "model": model,
                        "mean_importance": float(r["mean"]),
                        "frac_above": float(r["fraction_above"]),
                        "n_edges": int(r["bonds"]),
                    }
                )
        return rows

    def summary(self) -> list[dict[str, Any]]:
        """Per species pair: mean over models and interval of each statistic, per-model values.

        Interval bounds of the importance and the fraction are clipped to [0, 1], where
        both live.
        """
        table = self.per_model()
        out = []
        for pair in dict.fromkeys(r["pair"] for r in table):
            rows = [r for r in table if r["pair"] == pair]
            entry: dict[str, Any] = {"pair": pair, "n_models": len(rows)}
            for stat in STATISTICS:
                values = np.array([r[stat] for r in rows], dtype=float)
                lo, hi = interval(
                    values, method=self.method, confidence=self.confidence, seed=self.seed
                )
                if stat != "n_edges":
                    lo, hi = (float(np.clip(b, 0.0, 1.0)) for b in (lo, hi))
                entry[stat] = float(values.mean())
                entry[f"{stat}_lo"], entry[f"{stat}_hi"] = lo, hi
            entry["per_model"] = {r["model"]: {s: r[s] for s in STATISTICS} for r in rows}
            out.append(entry)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: models, rows, settings, interval and the summary (NaN → null)."""
        summary = [
            {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in e.items()}
            for e in self.summary()
        ]
        return {
            "models": self.runs,
            "row_ids": self.row_ids,
            "threshold": self.threshold,
            "interval": {"method": self.method, "confidence": self.confidence, "seed": self.seed},
            **self.settings,
            "pairs": summary,
        }


def explain_structures(
    run_dirs: RunDirs,
    structures: Sequence[Any],
    *,
    row_ids: Sequence[int] | None = None,
    label: str | None = None,
    explainer_seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 200,
    threshold: float = PAPER_THRESHOLD,
    interval_method: str = "t",
    confidence: float = 0.95,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ModelExplanations:
    """Explain each model on the same structures (see :func:`explain_models`)."""
    if interval_method not in INTERVAL_METHODS:
        raise ThermognnError(
            f"interval method must be one of {INTERVAL_METHODS}, not {interval_method!r}"
        )
    runs = model_names(run_dirs)
    check_runs(list(runs.values()), label)
    bonds: dict[str, list[BondImportance]] = {}
    total = len(runs) * len(structures)
    for k, (name, run) in enumerate(runs.items()):

        def step(done: int, _n: int, k: int = k) -> None:
            if progress:
                progress(k * len(structures) + done, total)

        log.info("explaining %s on %d structures", run, len(structures))
        bonds[name] = explain_run(
            run, structures, label=label, seeds=list(explainer_seeds), epochs=epochs, progress=step
        )
    return ModelExplanations(
        bonds,
        runs,
        row_ids=None if row_ids is None else [int(r) for r in row_ids],
        threshold=threshold,
        method=interval_method,
        confidence=confidence,
        seed=seed,
        settings={
            "label": label,
            "explainer_seeds": [int(s) for s in explainer_seeds],
            "epochs": epochs,
        },
    )


def explain_models(
    run_dirs: RunDirs,
    db: str | Path,
    row_ids: Sequence[int] | None = None,
    *,
    n_structures: int | None = 8,
    explainer_seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 200,
    label: str | None = None,
    threshold: float = PAPER_THRESHOLD,
    interval_method: str = "t",
    confidence: float = 0.95,
    seed: int = 0,
    allow_train_rows: bool = False,
    query: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ModelExplanations:
    """Explain several models (e.g. one setting's seeds) on the same test rows.

    Parameters
    ----------
    run_dirs
        Run folders, or ``{name: run folder}``.
    db
        Study database the runs were trained on.
    row_ids
        Rows to explain; default: the test rows all runs share (``split.json``), at most
        ``n_structures`` of them (seeded subset). See :func:`thermognn.explain.rows.select_rows`.
    n_structures
        Cap on the default rows.
    explainer_seeds, epochs
        GNNExplainer seeds averaged per graph and its epochs.
    label
        Label explained (default: each run's first).
    threshold
        Importance threshold of ``frac_above`` (paper: 0.86).
    interval_method, confidence, seed
        Interval across models (:func:`interval`); ``seed`` also draws the row subset.
    allow_train_rows
        Accept explicit rows some model trained on.
    query
        Only rows matching this ASE selection (e.g. ``scheme=phonon``).
    progress
        Called as ``progress(done, total)`` over models × structures.

    Returns
    -------
    ModelExplanations
        ``.per_model()`` tidy rows, ``.summary()`` per pair with intervals, ``.bonds``.
    """
    runs = model_names(run_dirs)
    check_runs(list(runs.values()), label)
    rows = select_rows(
        list(runs.values()),
        row_ids,
        n_structures=n_structures,
        allow_train_rows=allow_train_rows,
        among=None if query is None else query_ids(db, query),
        seed=seed,
    )
    return explain_structures(
        runs,
        load_rows(db, rows),
        row_ids=rows,
        label=label,
        explainer_seeds=explainer_seeds,
        epochs=epochs,
        threshold=threshold,
        interval_method=interval_method,
        confidence=confidence,
        seed=seed,
        progress=progress,
    )
