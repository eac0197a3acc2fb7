"""Train, evaluate and record one model: the public API behind ``thermognn train``.

A run folder holds everything needed to use or audit the model::

    RUN/
      model.pt          best weights (state dict; loaded with weights_only=True)
      model.json        record: model + hyperparameters, scalers, feature schema,
                        cutoff, labels + units, version, seeds, split sizes, outcome
      split.json        strategy, seed, dataset positions and row ids of each split
      metrics.json      MAE, RMSE, R², Pearson R², max error per label and split
      predictions.csv   row_id, split, label, true, predicted (physical units)
      history.csv       epoch, train/val/smoothed val/best val loss, lr, seconds
      history.png       the learning curve (log scale)

The recipe is a :class:`~thermognn.settings.TrainSettings`; ``model.json`` records it
whole under ``training``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError
from thermognn.models import model_spec
from thermognn.settings import TrainSettings
from thermognn.training.checkpoint import RECORD_FILE, RunRecord, write_json
from thermognn.training.device import resolve_device
from thermognn.training.history import write_history
from thermognn.training.labels import label_units, resolve_labels
from thermognn.training.loop import EpochLog, FitResult
from thermognn.training.splits import dataset_split
from thermognn.training.trainer import Trainer, model_hparams

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """Outcome of :func:`train_run`.

    Attributes
    ----------
    run_dir
        The run folder.
    metrics
        ``metrics[label][split][name]``; splits ``train``/``val``/``test``, names
        ``mae``, ``rmse``, ``max_error`` (label unit), ``r2``, ``pearson_r2``, ``n``.
    labels
        Label names, in the model's output order.
    best_epoch
        Epoch of the kept weights (0 = untrained initial model).
    epochs_run
        Epochs trained.
    stop_reason
        ``max_epochs``, ``early_stopping`` or ``nan_loss``.
    wall_time
        Seconds from start to finish.
    """

    run_dir: Path
    metrics: dict[str, dict[str, dict[str, float]]]
    labels: list[str]
    best_epoch: int
    epochs_run: int
    stop_reason: str
    wall_time: float


def _load_dataset(
    db: Any, labels: list[str], query: Any, cutoff: float, cache_dir: Any, missing: str
) -> Any:
    from thermognn.graphs import load_graph_dataset

    if db is None:
        raise ThermognnError("train_run needs a database (db) or a prebuilt dataset")
    return load_graph_dataset(
        db,
        labels=labels,
        query=query,
        cutoff=cutoff,
        cache_dir=cache_dir,
        missing=missing,  # type: ignore[arg-type]
    )


def _target_columns(dataset: Any, labels: list[str]) -> list[int]:
    absent = [name for name in labels if name not in dataset.labels]
    if absent:
        raise ThermognnError(
            f"the dataset has no label {', '.join(absent)} (it has {list(dataset.labels)})"
        )
    return [list(dataset.labels).index(name) for name in labels]


def _check_out(out: str | Path, overwrite: bool) -> None:
    """Refuse a run folder that holds a run (before anything is written)."""
    run_dir = Path(out)
    if run_dir.exists() and not run_dir.is_dir():
        raise ThermognnError(f"{run_dir}: a file, not a run folder; choose another --out")
    if (run_dir / RECORD_FILE).exists() and not overwrite:
        raise ThermognnError(f"{run_dir} already holds a run; choose another --out or overwrite")
    if run_dir.is_dir() and any((p / RECORD_FILE).is_file() for p in run_dir.iterdir()):
        raise ThermognnError(f"{run_dir} holds per-label runs; choose another --out")


def _prepare_out(out: str | Path, overwrite: bool) -> Path:
    _check_out(out, overwrite)
    run_dir = Path(out)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def train_run(
    db: Any,
    *,
    labels: str | Sequence[str],
    out: str | Path,
    settings: TrainSettings | Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | str | None = None,
    dataset: Any = None,
    split_indices: Mapping[str, Sequence[int]] | None = None,
    progress: bool | Callable[[EpochLog], None] = True,
    cache_dir: str | Path | None = None,
    missing: str = "skip",
    dense: bool | None = None,
    overwrite: bool = False,
    plot: bool = True,
    **overrides: Any,
) -> RunResult:
    """Train one model on a study database and write its run folder.

    Parameters
    ----------
    db
        Study database (path, URL or open ASE database); may be ``None`` when
        ``dataset`` is given.
    labels
        One label name, a list of names (one multi-target model), or ``"all"``.
    out
        Run folder to write.
    settings
        The training recipe (:class:`~thermognn.settings.TrainSettings` or a dict of
        its fields); ``None`` = the defaults.
    query
        ASE selection of rows (dict or string), e.g. ``{"scheme": "phonon"}``.
    dataset
        A prebuilt :class:`thermognn.graphs.GraphDataset` (reused across runs); its
        cutoff wins over ``settings.cutoff``.
    split_indices
        Explicit ``{"train": [...], "val": [...], "test": [...]}`` dataset positions
        (otherwise ``settings.split`` of the dataset, drawn with ``settings.seed``).
    progress
        ``True`` for a progress bar on stderr, ``False`` for none, or a callback
        receiving each :class:`EpochLog`.
    cache_dir, missing
        Graph cache folder and the missing-label policy (``skip``/``error``) when the
        dataset is built from ``db``.
    dense
        Use the dense path (``None``: when the model supports it and every graph has
        the same number of atoms).
    overwrite
        Allow writing into a folder that already holds a run.
    plot
        Draw ``history.png`` (``history.csv`` is always written); studies skip it for
        the runs they do not keep (~0.3 s a model).
    **overrides
        :class:`~thermognn.settings.TrainSettings` fields replacing those of
        ``settings`` (``model``, ``hparams``, ``seed``, ``epochs``, ``patience``,
        ``lr`` …; ``None`` keeps the setting). Optimiser keys inside ``hparams``
        (``lr``, ``lr_decay`` …, the older spelling) move to their own fields.

    Returns
    -------
    RunResult
        Metrics per label and split, best epoch, stop reason, wall time.
    """
    start = time.perf_counter()
    recipe = TrainSettings.of(settings, **overrides)
    names = resolve_labels(labels)
    model_spec(recipe.model)  # an unknown model is refused before any graph is cached
    _check_out(out, overwrite)
    if dataset is None:
        dataset = _load_dataset(db, names, query, recipe.cutoff, cache_dir, missing)
    graph_cutoff = float(getattr(dataset, "cutoff", recipe.cutoff))
    if graph_cutoff != recipe.cutoff:
        logger.info(
            "using the dataset's %.3g Å cutoff (settings: %.3g Å)", graph_cutoff, recipe.cutoff
        )
        recipe = TrainSettings.of(recipe, cutoff=graph_cutoff)
    columns = _target_columns(dataset, names)
    spec = model_spec(recipe.model)
    n_features = int(dataset[0].x.shape[1])
    hparams = model_hparams(spec, recipe.hparams, n_features, len(names), graph_cutoff)
    the_split = dataset_split(dataset, split_indices, recipe.seed, recipe.split)
    if the_split.sizes["val"] == 0:
        raise ThermognnError("the validation split is empty; early stopping needs one")
    device = resolve_device(recipe.device)
    run_dir = _prepare_out(out, overwrite)
    trainer = Trainer(dataset, columns, spec, hparams, the_split, recipe, device, dense)
    record = trainer.record(names, graph_cutoff, db, query)
    write_json(run_dir / "split.json", the_split.to_dict(np.asarray(dataset.row_ids)))
    write_json(run_dir / RECORD_FILE, record.to_dict())
    fit_result = trainer.fit(run_dir, progress)
    metrics = trainer.evaluate(run_dir, names)
    wall = time.perf_counter() - start
    _finish_record(run_dir, record, fit_result, wall)
    write_history(run_dir, fit_result.history, plot=plot)
    write_json(
        run_dir / "metrics.json",
        {
            "units": label_units(names),
            "stop_reason": fit_result.stop_reason,
            "best_epoch": fit_result.best_epoch,
            "epochs_run": fit_result.epochs_run,
            "final_lr": fit_result.final_lr,
            "metrics": metrics,
        },
    )
    logger.info(
        "run %s: best epoch %d of %d, stopped by %s, %.1f s",
        run_dir,
        fit_result.best_epoch,
        fit_result.epochs_run,
        fit_result.stop_reason,
        wall,
    )
    return RunResult(
        run_dir,
        metrics,
        names,
        fit_result.best_epoch,
        fit_result.epochs_run,
        fit_result.stop_reason,
        wall,
    )


def _finish_record(run_dir: Path, record: RunRecord, result: FitResult, wall: float) -> None:
    record.training.update(
        status="done",
        best_epoch=result.best_epoch,
        epochs_run=result.epochs_run,
        stop_reason=result.stop_reason,
        best_val_loss=result.best_val_loss,
        wall_time_s=wall,
    )
    write_json(run_dir / RECORD_FILE, record.to_dict())
    if result.stop_reason == "nan_loss":
        logger.warning(
            "%s: training loss turned NaN; kept the weights of epoch %d", run_dir, result.best_epoch
        )
