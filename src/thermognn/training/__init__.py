"""Training, evaluation and prediction (DESIGN.md §7).

Public API (stable; the studies stage calls it):

* :func:`train_run` — train one model on a study database, write a run folder (the
  recipe is a :class:`thermognn.settings.TrainSettings`);
* :func:`load_run` — the model and its :class:`RunRecord` from a run folder;
* :func:`predict_structures` — predictions for ASE structures, physical units;
* :func:`evaluate_run` — metrics and parity arrays of a run on any selection;
* :class:`Predictor` — a loaded run for repeated predictions.
"""

from __future__ import annotations

from thermognn.training.checkpoint import RunRecord, check_schema
from thermognn.training.device import resolve_device
from thermognn.training.evaluate import Evaluation, evaluate_run
from thermognn.training.labels import LABEL_UNITS, resolve_labels
from thermognn.training.loop import EpochLog, FitConfig, FitResult, PlateauRule, fit
from thermognn.training.metrics import regression_metrics
from thermognn.training.predict import Predictor, load_run, predict_structures
from thermognn.training.run import RunResult, train_run
from thermognn.training.scalers import ColumnScaler, Scalers
from thermognn.training.splits import Split, split_dataset

__all__ = [
    "LABEL_UNITS",
    "ColumnScaler",
    "EpochLog",
    "Evaluation",
    "FitConfig",
    "FitResult",
    "PlateauRule",
    "Predictor",
    "RunRecord",
    "RunResult",
    "Scalers",
    "Split",
    "check_schema",
    "evaluate_run",
    "fit",
    "load_run",
    "predict_structures",
    "regression_metrics",
    "resolve_device",
    "resolve_labels",
    "split_dataset",
    "train_run",
]
