"""Deep ensembles: K models of any registered family, one run folder, calibrated spread.

``train_ensemble`` trains K members on one shared split; member m uses seed
``settings.seed + m`` (initial weights, dropout and batch order), so the members differ
in seed and data order but are scored on the same validation and test rows. The spread
of their predictions is calibrated on the validation rows (one scale per label,
:mod:`thermognn.training.calibration`) and reported on the test rows::

    RUN/
      ensemble.json     members, labels, units, seeds, calibration scales and coverage
      members/m0 …      one ordinary run folder per member (model.pt, model.json …)
      split.json        the shared split
      metrics.json      metrics of the ensemble mean per label and split
      predictions.csv   row_id, split, label, true, predicted (mean), std (calibrated)
      calibration.png   expected against observed coverage, raw and calibrated

:class:`EnsemblePredictor` predicts the mean and the calibrated spread;
:func:`load_predictor` opens a single run or an ensemble alike and
:func:`predict_with_std` returns ``{label: mean, label_std: spread}``.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermognn._version import __version__
from thermognn.errors import CheckpointError, ThermognnError
from thermognn.settings import TrainSettings
from thermognn.training.calibration import calibrate, plot_calibration
from thermognn.training.checkpoint import (
    ENSEMBLE_FILE,
    RECORD_FILE,
    RunRecord,
    read_record,
    write_json,
)
from thermognn.training.labels import label_units, resolve_labels
from thermognn.training.metrics import regression_metrics
from thermognn.training.predict import Predictor

logger = logging.getLogger(__name__)

MEMBERS_DIR = "members"


def is_ensemble(path: str | Path) -> bool:
    """Whether ``path`` is an ensemble run folder."""
    return (Path(path) / ENSEMBLE_FILE).is_file()


def read_ensemble(run_dir: str | Path) -> dict[str, Any]:
    """The ``ensemble.json`` record of an ensemble run folder."""
    path = Path(run_dir) / ENSEMBLE_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable ensemble record ({exc})") from None
    if not isinstance(record, dict) or not record.get("members"):
        raise CheckpointError(f"{path}: not a thermognn ensemble record")
    return record


def member_dirs(run_dir: str | Path) -> list[Path]:
    """The member run folders of an ensemble, in member order."""
    return [Path(run_dir) / m for m in read_ensemble(run_dir)["members"]]


@dataclass
class EnsembleResult:
    """Outcome of :func:`train_ensemble`.

    Attributes
    ----------
    run_dir
        The ensemble folder.
    metrics
        ``metrics[label][split][name]`` of the ensemble mean (as :class:`RunResult`).
    labels
        Label names.
    calibration
        Per label: fitted scale, verdict on the raw spread, 1σ/2σ coverage raw and
        calibrated (see :func:`thermognn.training.calibration.calibrate`).
    members
        Member run folders.
    wall_time
        Seconds.
    """

    run_dir: Path
    metrics: dict[str, dict[str, dict[str, float]]]
    labels: list[str]
    calibration: dict[str, dict[str, Any]]
    members: list[Path]
    wall_time: float


def _member_done(path: Path) -> bool:
    try:
        return read_record(path).training.get("status") == "done"
    except CheckpointError:
        return False


def train_ensemble(
    db: Any,
    *,
    labels: str | Sequence[str],
    out: str | Path,
    size: int = 5,
    settings: TrainSettings | Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | str | None = None,
    dataset: Any = None,
    split_indices: Mapping[str, Sequence[int]] | None = None,
    progress: bool | Callable[[Any], None] = True,
    cache_dir: str | Path | None = None,
    missing: str = "skip",
    overwrite: bool = False,
    plot: bool = True,
    **overrides: Any,
) -> EnsembleResult:
    """Train ``size`` members on one split and write an ensemble run folder.

    Parameters are those of :func:`thermognn.training.train_run`, plus ``size`` (the
    number of members, ≥ 2) and ``plot`` (each member's ``history.png``; the ensemble's
    ``calibration.png`` is always drawn). A member already finished in ``out`` (an interrupted run)
    is kept, not retrained; ``overwrite`` retrains every member.

    Returns
    -------
    EnsembleResult
        Metrics of the ensemble mean, calibration and member folders.
    """
    from thermognn.training.run import _load_dataset, train_run
    from thermognn.training.splits import dataset_split

    start = time.perf_counter()
    if size < 2:
        raise ThermognnError(f"an ensemble needs at least 2 members, got {size}")
    recipe = TrainSettings.of(settings, **overrides)
    names = resolve_labels(labels)
    run_dir = Path(out)
    if (run_dir / RECORD_FILE).exists():
        raise ThermognnError(f"{run_dir} holds a single-model run; choose another --out")
    if dataset is None:
        dataset = _load_dataset(db, names, query, recipe.cutoff, cache_dir, missing)
    split = dataset_split(dataset, split_indices, recipe.seed, recipe.split)
    indices = {k: v.tolist() for k, v in split.indices.items()}
    members = [f"{MEMBERS_DIR}/m{m}" for m in range(size)]
    seeds = [recipe.seed + m for m in range(size)]
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "split.json", split.to_dict(np.asarray(dataset.row_ids)))
    for member, seed in zip(members, seeds, strict=True):
        path = run_dir / member
        if _member_done(path) and not overwrite:
            logger.info("%s: already trained, kept", path)
            continue
        train_run(
            db,
            labels=names,
            out=path,
            settings=recipe,
            dataset=dataset,
            split_indices=indices,
            progress=progress,
            overwrite=True,
            plot=plot,
            seed=seed,
        )
    predictor = EnsemblePredictor([Predictor.from_run(run_dir / m) for m in members])
    members_mean, members_std = predictor.predict_graphs_raw(list(dataset))
    true = np.asarray(dataset.targets, dtype=np.float64)[
        :, [list(dataset.labels).index(n) for n in names]
    ]
    test = split.indices["test"]
    report = test if len(test) else split.indices["val"]
    calib = calibrate(true, members_mean, members_std, split.indices["val"], report, names)
    scales = [calib[n]["scale"] for n in names]
    metrics = _write_tables(
        run_dir, dataset, split.indices, names, true, members_mean, members_std * scales
    )
    record = {
        "kind": "ensemble",
        "members": members,
        "seeds": seeds,
        "labels": names,
        "units": label_units(names),
        "model": recipe.model,
        "training": recipe.model_dump(),
        "split": split.summary(),
        "calibration": {
            "scales": dict(zip(names, scales, strict=True)),
            "fitted_on": "validation rows",
            "reported_on": "test rows" if len(test) else "validation rows",
            "per_label": calib,
        },
        "version": __version__,
        "wall_time_s": time.perf_counter() - start,
    }
    plot_calibration(run_dir / "calibration.png", calib)
    write_json(run_dir / ENSEMBLE_FILE, record)
    return EnsembleResult(
        run_dir,
        metrics,
        names,
        calib,
        [run_dir / m for m in members],
        time.perf_counter() - start,
    )


def _write_tables(
    run_dir: Path,
    dataset: Any,
    indices: Mapping[str, np.ndarray],
    names: list[str],
    true: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
) -> dict[str, dict[str, dict[str, float]]]:
    """``metrics.json`` and ``predictions.csv`` of the ensemble mean (calibrated std)."""
    metrics: dict[str, dict[str, dict[str, float]]] = {name: {} for name in names}
    row_ids = np.asarray(dataset.row_ids)
    rows: list[tuple[Any, ...]] = []
    for split, index in indices.items():
        for k, name in enumerate(names):
            metrics[name][split] = regression_metrics(true[index, k], mean[index, k])
            rows += [
                (int(r), split, name, f"{t:.10g}", f"{p:.10g}", f"{s:.6g}")
                for r, t, p, s in zip(
                    row_ids[index], true[index, k], mean[index, k], std[index, k], strict=True
                )
            ]
    with (run_dir / "predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("row_id", "split", "label", "true", "predicted", "std"))
        writer.writerows(rows)
    write_json(run_dir / "metrics.json", {"units": label_units(names), "metrics": metrics})
    return metrics


class EnsemblePredictor:
    """Members of an ensemble predicting a mean and a calibrated spread.

    Parameters
    ----------
    members
        Loaded member :class:`Predictor` objects (same labels).
    scales
        Calibration factor of the spread per label (default 1).
    """

    def __init__(self, members: Sequence[Predictor], scales: Sequence[float] | None = None):
        if not members:
            raise ThermognnError("an ensemble needs members")
        labels = members[0].labels
        if any(m.labels != labels for m in members):
            raise CheckpointError("ensemble members predict different labels")
        self.members = list(members)
        self.scales = np.asarray(scales if scales is not None else [1.0] * len(labels), float)

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "cpu") -> EnsemblePredictor:
        """Load an ensemble run folder (members and calibration scales)."""
        record = read_ensemble(run_dir)
        members = [Predictor.from_run(p, device) for p in member_dirs(run_dir)]
        scales_by_label = record.get("calibration", {}).get("scales", {})
        scales = [float(scales_by_label.get(n, 1.0)) for n in members[0].labels]
        return cls(members, scales)

    @property
    def labels(self) -> list[str]:
        """Predicted label names, in column order."""
        return self.members[0].labels

    @property
    def record(self) -> RunRecord:
        """The first member's record (labels, units, schema, model)."""
        return self.members[0].record

    def _stack(self, values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        stack = np.stack(values)
        return stack.mean(axis=0), stack.std(axis=0, ddof=1)

    def predict_graphs_raw(self, graphs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and *uncalibrated* member spread for crystal graphs, ``[n, n_labels]``."""
        return self._stack([m.predict_graphs(graphs) for m in self.members])

    def predict_graphs_std(self, graphs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and calibrated spread for crystal graphs, ``[n, n_labels]`` each."""
        mean, std = self.predict_graphs_raw(graphs)
        return mean, std * self.scales

    def predict_atoms_std(self, structures: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and calibrated spread for ASE structures, ``[n, n_labels]`` each."""
        mean, std = self._stack([m.predict_atoms(structures) for m in self.members])
        return mean, std * self.scales

    def predict_graphs(self, graphs: Sequence[Any], batch_size: int = 512) -> np.ndarray:
        """The ensemble mean for graphs (the :class:`Predictor` interface)."""
        return self.predict_graphs_raw(graphs)[0]

    def predict_atoms(self, structures: Sequence[Any], batch_size: int = 256) -> np.ndarray:
        """The ensemble mean for ASE structures (the :class:`Predictor` interface)."""
        return self._stack([m.predict_atoms(structures, batch_size) for m in self.members])[0]


def load_predictor(run_dir: str | Path, device: str = "cpu") -> Predictor | EnsemblePredictor:
    """A single run's :class:`Predictor` or an ensemble's :class:`EnsemblePredictor`."""
    if is_ensemble(run_dir):
        return EnsemblePredictor.from_run(run_dir, device)
    return Predictor.from_run(run_dir, device)


def predict_with_std(
    run_dir: str | Path, atoms_list: Sequence[Any], device: str = "cpu"
) -> dict[str, np.ndarray]:
    """``{label: prediction}`` plus ``{label_std: calibrated spread}`` for an ensemble.

    A single run gives the labels only (no spread).
    """
    predictor = load_predictor(run_dir, device)
    if isinstance(predictor, EnsemblePredictor):
        mean, std = predictor.predict_atoms_std(atoms_list)
        out = {name: mean[:, k] for k, name in enumerate(predictor.labels)}
        out.update({f"{name}_std": std[:, k] for k, name in enumerate(predictor.labels)})
        return out
    values = predictor.predict_atoms(atoms_list)
    return {name: values[:, k] for k, name in enumerate(predictor.labels)}
