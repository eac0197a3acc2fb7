"""Pool-based active-learning simulation on an already labeled data set.

The labels of the pool are hidden until a strategy acquires them: each round trains a
deep ensemble in memory on the acquired rows (a seeded validation share carved from
them), scores it on a fixed reserved test set, predicts the spread of the remaining
pool and acquires the next batch (:func:`thermognn.learning.acquisition.acquire`). This
measures acquisition strategies against each other at equal label counts without
running a labeler (``benchmarks/bench_learn.py``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from thermognn.learning.acquisition import acquire
from thermognn.models import model_spec
from thermognn.settings import TrainSettings
from thermognn.training.calibration import coverage, fit_scale
from thermognn.training.ensemble import EnsemblePredictor
from thermognn.training.metrics import regression_metrics
from thermognn.training.predict import Predictor
from thermognn.training.splits import given_split

log = logging.getLogger(__name__)


def fit_members(
    dataset: Any,
    train: np.ndarray,
    val: np.ndarray,
    settings: TrainSettings,
    size: int,
    label: str,
) -> EnsemblePredictor:
    """Train ``size`` members in memory (seeds ``settings.seed + m``), spread calibrated on ``val``.

    Same trainer, scalers and stopping rule as :func:`thermognn.training.train_run`,
    without writing a run folder.
    """
    from thermognn.training.device import resolve_device
    from thermognn.training.trainer import Trainer, model_hparams

    spec = model_spec(settings.model)
    hparams = model_hparams(spec, settings.hparams, int(dataset[0].x.shape[1]), 1, dataset.cutoff)
    columns = [list(dataset.labels).index(label)]
    split = given_split({"train": list(train), "val": list(val), "test": []}, len(dataset))
    device = resolve_device(settings.device)
    members = []
    with tempfile.TemporaryDirectory(prefix="thermognn-members-") as tmp:
        for m in range(size):
            recipe = TrainSettings.of(settings, seed=settings.seed + m)
            trainer = Trainer(dataset, columns, spec, hparams, split, recipe, device, None)
            trainer.fit(Path(tmp), progress=False)
            record = trainer.record([label], dataset.cutoff, None, None)
            members.append(Predictor(trainer.model, record, str(device)))
    ensemble = EnsemblePredictor(members)
    graphs = [dataset[int(i)] for i in val]
    mean, std = ensemble.predict_graphs_raw(graphs)
    true = dataset.targets[val][:, columns[0]]
    ensemble.scales = np.array([fit_scale(true - mean[:, 0], std[:, 0])])
    return ensemble


@dataclass
class RoundResult:
    """One round of a simulated learner: the model trained on ``n_labels`` rows.

    Attributes
    ----------
    strategy, seed, round, n_labels
        Who, which repetition, which round, how many labels acquired so far.
    mae, rmse, r2
        Test metrics of the ensemble mean (label unit).
    mean_std
        Mean calibrated spread on the test rows.
    coverage_1sigma, coverage_2sigma
        Fractions of test errors within 1σ and 2σ (calibrated spread).
    scale
        Calibration factor fitted on the round's validation rows.
    """

    strategy: str
    seed: int
    round: int
    n_labels: int
    mae: float
    rmse: float
    r2: float
    mean_std: float
    coverage_1sigma: float
    coverage_2sigma: float
    scale: float


def simulate(
    dataset: Any,
    pool: np.ndarray,
    test: np.ndarray,
    *,
    strategy: str,
    schedule: Sequence[int],
    seed: int,
    settings: TrainSettings,
    size: int,
    label: str,
    descriptors: np.ndarray | None = None,
    val_fraction: float = 0.15,
    shortlist: float = 4.0,
    progress: Callable[[RoundResult], None] | None = None,
) -> list[RoundResult]:
    """Run one simulated learner over the label counts of ``schedule``.

    Parameters
    ----------
    dataset
        Labeled :class:`thermognn.graphs.GraphDataset`.
    pool, test
        Dataset positions of the candidate pool and of the reserved test set.
    strategy
        Acquisition strategy (``random`` draws every batch at random).
    schedule
        Increasing label counts; the first batch is always drawn at random.
    seed
        Seed of the first batch, the validation shares, random picks and members.
    settings, size
        Members' training recipe and number.
    label
        The target label.
    descriptors
        Standardised structure descriptors of every dataset row (``diverse``,
        ``coverage``, ``design``).
    val_fraction
        Share of the acquired rows held out for validation (early stopping, calibration).
    shortlist
        ``diverse``: shortlist factor (:func:`~thermognn.learning.acquisition.acquire`).
    progress
        Called with each round's result.
    """
    rng = np.random.default_rng(seed)
    pool = np.asarray(pool)
    order = rng.permutation(len(pool))
    acquired = list(pool[order[: schedule[0]]])
    column = list(dataset.labels).index(label)
    true_test = dataset.targets[test][:, column].astype(float)
    results: list[RoundResult] = []
    for r in range(len(schedule)):
        labeled = np.asarray(acquired)
        n_val = max(2, int(round(val_fraction * len(labeled))))
        shuffled = rng.permutation(labeled)
        recipe = TrainSettings.of(settings, seed=settings.seed + 1000 * seed + 10 * r)
        ensemble = fit_members(dataset, shuffled[n_val:], shuffled[:n_val], recipe, size, label)
        mean, std = ensemble.predict_graphs_std([dataset[int(i)] for i in test])
        error, sigma = true_test - mean[:, 0], std[:, 0]
        m = regression_metrics(true_test, mean[:, 0])
        result = RoundResult(
            strategy,
            seed,
            r,
            len(labeled),
            m["mae"],
            m["rmse"],
            m["r2"],
            float(sigma.mean()),
            coverage(error, sigma, 1.0),
            coverage(error, sigma, 2.0),
            float(ensemble.scales[0]),
        )
        results.append(result)
        if progress is not None:
            progress(result)
        if r + 1 == len(schedule):
            break
        remaining = np.setdiff1d(pool, labeled)
        k = schedule[r + 1] - len(labeled)
        spread = np.zeros(len(remaining))
        if strategy != "random":
            with torch.no_grad():
                spread = ensemble.predict_graphs_std([dataset[int(i)] for i in remaining])[1][:, 0]
        picked = acquire(
            strategy,
            k,
            spread,
            None if descriptors is None else descriptors[remaining],
            None if descriptors is None else descriptors[labeled],
            rng=rng,
            shortlist=shortlist,
        ).picked
        acquired += list(remaining[picked])
    return results
