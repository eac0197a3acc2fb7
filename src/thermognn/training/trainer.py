"""The trainer of one model: scalers, batch sources, seeded fit, evaluation and record.

:func:`~thermognn.training.run.train_run` wraps it with a run folder; in-memory users
(active-learning simulations) drive it directly.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from thermognn._version import __version__
from thermognn.errors import ThermognnError
from thermognn.models import ModelSpec
from thermognn.settings import TrainSettings
from thermognn.training.batches import make_source, predict_scaled
from thermognn.training.checkpoint import RunRecord, save_weights
from thermognn.training.labels import label_units
from thermognn.training.loop import EpochLog, FitResult, fit
from thermognn.training.metrics import regression_metrics
from thermognn.training.scalers import Scalers
from thermognn.training.splits import Split

#: Seconds between two writes of a new best ``model.pt`` during training.
SAVE_EVERY = 5.0


def model_hparams(
    spec: ModelSpec,
    hparams: Mapping[str, Any],
    n_features: int,
    n_targets: int,
    cutoff: float,
) -> dict[str, Any]:
    """Every constructor argument of the model, checked by building it once."""
    user = dict(hparams)
    fixed = {"in_channels": n_features, "n_targets": n_targets}
    if "cutoff" in spec.hparam_names():
        user.setdefault("cutoff", cutoff)
    resolved = spec.resolve(**{**user, **fixed})
    with torch.random.fork_rng(devices=[]):
        try:
            spec.cls(**resolved)
        except (TypeError, ValueError) as exc:
            raise ThermognnError(f"model {spec.name!r}: {exc}") from None
    return resolved


class Trainer:
    """Scalers, sources and model of one run (:func:`~thermognn.training.run.train_run`).

    Parameters
    ----------
    dataset
        Graph dataset (physical labels in ``g.y``).
    columns
        Label columns of ``g.y`` the model predicts.
    spec, hparams
        Registered model and its full constructor arguments (:func:`model_hparams`).
    split
        Dataset positions of ``train``/``val``/``test``.
    settings
        The training recipe.
    device
        Torch device of model and sources.
    dense
        Dense path (``None``: when the model supports it and all graphs have equal size).
    """

    def __init__(
        self,
        dataset: Any,
        columns: list[int],
        spec: ModelSpec,
        hparams: dict[str, Any],
        split: Split,
        settings: TrainSettings,
        device: torch.device,
        dense: bool | None,
    ) -> None:
        self.dataset, self.columns, self.spec, self.hparams = dataset, columns, spec, hparams
        self.split, self.settings, self.device = split, settings, device
        physical = torch.cat([g.y[:, columns] for g in dataset]).double()
        self.true = physical.numpy()
        train = split.indices["train"]
        kinds = (spec.scaling.node, spec.scaling.edge, spec.scaling.target)
        self.scalers = Scalers.fit(
            [dataset[int(i)] for i in train], self.true[train], kinds, settings.cutoff
        )
        sizes = {int(dataset[int(i)].x.shape[0]) for index in split.indices.values() for i in index}
        supports = bool(getattr(spec.cls, "supports_dense", False))
        if dense and not supports:
            raise ThermognnError(f"model {spec.name!r} has no dense path")
        self.dense = supports and (len(sizes) == 1 if dense is None else bool(dense))
        self.sources = {name: self._source(idx) for name, idx in split.indices.items()}

    def _source(self, index: np.ndarray) -> Any:
        if not len(index):  # an empty split (e.g. no test rows) has no source
            return None
        vectors = bool(getattr(self.spec.cls, "needs_vectors", False))
        graphs = self.scalers.transform_graphs(
            [self.dataset[int(i)] for i in index], self.columns, vectors=vectors
        )
        targets = torch.cat([g.y for g in graphs]) if graphs else None
        return make_source(graphs, targets, self.dense).to(self.device)

    def record(self, labels: list[str], cutoff: float, db: Any, query: Any) -> RunRecord:
        from thermognn.graphs import NODE_FEATURES

        skipped = list(getattr(self.dataset, "skipped", []))
        return RunRecord(
            model=self.spec.name,
            family=self.spec.family,
            hparams=self.hparams,
            labels=labels,
            units=label_units(labels),
            node_features=list(NODE_FEATURES),
            cutoff=cutoff,
            scalers=self.scalers,
            training={
                **self.settings.model_dump(),
                "device": str(self.device),
                "dense": self.dense,
                "torch": torch.__version__,
                "status": "training",
            },
            split=self.split.summary(),
            data={
                "db": None if db is None else str(getattr(db, "filename", db)),
                "query": query if query is None or isinstance(query, str) else dict(query),
                "n_graphs": len(self.dataset),
                "n_skipped": len(skipped),
            },
            version=__version__,
            domain=self._domain(labels, cutoff),
        )

    def _domain(self, labels: list[str], cutoff: float) -> dict[str, Any]:
        """Elements, cell sizes, label ranges and descriptors of the training split."""
        from thermognn.training.domain import TrainingDomain

        train = self.split.indices["train"]
        graphs = [self.dataset[int(i)] for i in train]
        return TrainingDomain.fit(graphs, self.true[train], labels, cutoff).to_dict()

    def fit(self, run_dir: Path, progress: bool | Callable[[EpochLog], None]) -> FitResult:
        """Seeded training; the best weights go to ``model.pt`` as they come.

        A new best is written at most every :data:`SAVE_EVERY` seconds (an interrupted
        run keeps a recent best; a small model improving every epoch spent 0.5 s of a
        3 s training writing files), and the final best once training ends.
        """
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        last_save = [-math.inf]

        def on_improve(model: torch.nn.Module, _epoch: int) -> None:
            if time.monotonic() - last_save[0] >= SAVE_EVERY:
                save_weights(run_dir, model)
                last_save[0] = time.monotonic()

        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.settings.seed)
            self.model = self.spec.cls(**self.hparams).to(self.device)
            with _progress_callback(progress, self.settings.epochs) as on_epoch:
                result = fit(
                    self.model,
                    self.sources["train"],
                    self.sources["val"],
                    self.settings,
                    on_epoch=on_epoch,
                    on_improve=on_improve,
                )
        save_weights(run_dir, self.model)  # the best weights (``fit`` restored them)
        return result

    def evaluate(self, run_dir: Path, labels: list[str]) -> dict[str, dict[str, dict[str, float]]]:
        """Metrics per label and split (physical units); writes ``predictions.csv``."""
        metrics: dict[str, dict[str, dict[str, float]]] = {name: {} for name in labels}
        rows: list[tuple[Any, ...]] = []
        row_ids = np.asarray(self.dataset.row_ids)
        for split, index in self.split.indices.items():
            if self.sources[split] is None:
                predicted = np.zeros((0, len(labels)))
            else:
                scaled = predict_scaled(
                    self.model, self.sources[split], 4 * self.settings.batch_size
                )
                predicted = self.scalers.target.inverse(
                    scaled.double().reshape(len(index), -1)
                ).numpy()
            true = self.true[index]
            for k, name in enumerate(labels):
                metrics[name][split] = regression_metrics(true[:, k], predicted[:, k])
                rows += [
                    (int(r), split, name, f"{t:.10g}", f"{p:.10g}")
                    for r, t, p in zip(row_ids[index], true[:, k], predicted[:, k], strict=True)
                ]
        with (run_dir / "predictions.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("row_id", "split", "label", "true", "predicted"))
            writer.writerows(rows)
        return metrics


def _progress_callback(progress: bool | Callable[[EpochLog], None], epochs: int) -> Any:
    """A context manager yielding the per-epoch callback (or ``None``)."""
    from contextlib import nullcontext

    if callable(progress):
        return nullcontext(progress)
    if not progress:
        return nullcontext(None)
    from thermognn.training.progress import EpochProgress

    return EpochProgress(epochs)
