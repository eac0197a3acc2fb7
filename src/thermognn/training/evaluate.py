"""Evaluate a trained run on any selection of a study database."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.training.checkpoint import check_schema, write_json
from thermognn.training.metrics import regression_metrics
from thermognn.training.predict import Predictor


@dataclass
class Evaluation:
    """Metrics and parity data of a run on a data set.

    Attributes
    ----------
    labels, units
        Label names (column order) and the unit of each.
    metrics
        ``metrics[label]`` = MAE, RMSE, max error (label unit), R², Pearson R², n.
    row_ids
        Database row id of each structure ``[n]``.
    true, predicted
        Parity arrays ``[n, n_labels]`` in physical units.
    """

    labels: list[str]
    units: dict[str, str]
    metrics: dict[str, dict[str, float]]
    row_ids: np.ndarray
    true: np.ndarray
    predicted: np.ndarray

    def write(self, folder: str | Path) -> Path:
        """Write ``metrics.json`` and ``parity.csv`` (row_id, label, true, predicted)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "metrics.json", {"units": self.units, "metrics": self.metrics})
        with (folder / "parity.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("row_id", "label", "true", "predicted"))
            for k, name in enumerate(self.labels):
                for r, t, p in zip(
                    self.row_ids, self.true[:, k], self.predicted[:, k], strict=True
                ):
                    writer.writerow((int(r), name, f"{t:.10g}", f"{p:.10g}"))
        return folder


def evaluate_run(
    run_dir: str | Path,
    db: Any = None,
    query: Mapping[str, Any] | str | None = None,
    *,
    dataset: Any = None,
    cache_dir: str | Path | None = None,
    missing: str = "skip",
    device: str = "cpu",
) -> Evaluation:
    """Metrics and parity arrays of a trained run on a selection of rows.

    Parameters
    ----------
    run_dir
        A run folder.
    db
        Study database (path, URL or open ASE database).
    query
        ASE selection of rows; ``None`` for all.
    dataset
        A prebuilt graph dataset instead of ``db``/``query``; its cutoff, node
        features and labels must match the run's.
    cache_dir, missing
        Graph cache folder and the missing-label policy (``skip``/``error``).
    device
        ``cpu`` or ``cuda``.

    Returns
    -------
    Evaluation
        Metrics per label in physical units, and the parity data.

    Raises
    ------
    CheckpointError
        When the data's cutoff, node features or labels do not match the run's.
    """
    from thermognn.graphs import NODE_FEATURES, load_graph_dataset

    predictor = Predictor.from_run(run_dir, device)
    record = predictor.record
    if dataset is None:
        dataset = load_graph_dataset(
            db,
            labels=record.labels,
            query=query,
            cutoff=record.cutoff,
            cache_dir=cache_dir,
            missing=missing,  # type: ignore[arg-type]
        )
    check_schema(
        record,
        node_features=NODE_FEATURES,
        cutoff=dataset.cutoff,
        labels=list(dataset.labels),
        where=f"run {run_dir}",
    )
    columns = [list(dataset.labels).index(name) for name in record.labels]
    true = np.concatenate([g.y[:, columns].double().numpy() for g in dataset])
    predicted = predictor.predict_graphs(list(dataset))
    metrics = {
        name: regression_metrics(true[:, k], predicted[:, k])
        for k, name in enumerate(record.labels)
    }
    return Evaluation(
        list(record.labels),
        dict(record.units),
        metrics,
        np.asarray(dataset.row_ids),
        true,
        predicted,
    )
