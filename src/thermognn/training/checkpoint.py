"""Checkpoints: ``model.pt`` (weights only) + ``model.json`` (everything else).

``model.pt`` holds the model's ``state_dict`` and nothing else; it is read with
``torch.load(..., weights_only=True)``, whose restricted unpickler refuses any object
that is not a tensor or a plain container, so a crafted pickle payload never runs.
``model.json`` (:class:`RunRecord`) holds the model name and hyperparameters, the
scalers, the feature schema (node feature names, graph cutoff), the label names and
units, the package version, seeds, split sizes and the training outcome. A record
whose schema does not match the data it is used on is a :class:`CheckpointError`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from thermognn.errors import CheckpointError
from thermognn.training.scalers import Scalers

logger = logging.getLogger(__name__)

#: Version of the run-folder layout written here.
RUN_FORMAT = 1
WEIGHTS_FILE = "model.pt"
RECORD_FILE = "model.json"
#: Record of an ensemble run folder (its members are ordinary runs under ``members/``).
ENSEMBLE_FILE = "ensemble.json"


@dataclass
class RunRecord:
    """The JSON record of a trained model (``model.json``).

    Attributes
    ----------
    model, family
        The model's registry and family names
        (:class:`~thermognn.models.registry.ModelSpec` ``name`` and ``family``).
    hparams
        Every constructor argument of the model, resolved.
    labels, units
        Target names in column order, and the unit of each.
    node_features
        Node feature names in column order.
    cutoff
        Graph cutoff, Å.
    scalers
        Node, edge and target scalers, fitted on the training split.
    training
        Optimiser settings, seed, device, dense path, best epoch, stop reason, timings.
    split
        Split strategy, seed, fractions and sizes.
    data
        Database, query and the number of graphs used / skipped.
    version
        thermognn version that wrote the record.
    format
        Run-folder format version.
    domain
        What the model was trained on (:class:`thermognn.training.domain.TrainingDomain`);
        empty for runs trained before it was recorded.
    """

    model: str
    family: str
    hparams: dict[str, Any]
    labels: list[str]
    units: dict[str, str]
    node_features: list[str]
    cutoff: float
    scalers: Scalers
    training: dict[str, Any] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    format: int = RUN_FORMAT
    domain: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["scalers"] = self.scalers.to_dict()
        return out

    @classmethod
    def from_dict(cls, record: dict[str, Any], where: str = RECORD_FILE) -> RunRecord:
        """Validate and convert a loaded ``model.json``."""
        if not isinstance(record, dict):
            raise CheckpointError(f"{where}: not a thermognn run record")
        required = ("model", "family", "hparams", "labels", "node_features", "cutoff", "scalers")
        missing = [key for key in required if key not in record]
        if missing:
            raise CheckpointError(
                f"{where}: not a thermognn run record (lacks {', '.join(missing)})"
            )
        if record.get("format", RUN_FORMAT) > RUN_FORMAT:
            raise CheckpointError(
                f"{where}: run format {record['format']} is newer than this thermognn "
                f"understands ({RUN_FORMAT}); upgrade thermognn"
            )
        fields = {k: v for k, v in record.items() if k in cls.__dataclass_fields__}
        fields["scalers"] = Scalers.from_dict(record["scalers"])
        fields["cutoff"] = float(record["cutoff"])
        fields.setdefault("units", {})
        out = cls(**fields)
        check_record(out, where)
        return out


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically (temporary file + rename); NaN written as null."""
    text = json.dumps(_finite(payload), indent=2, sort_keys=False)
    _atomic_write(path, text.encode())


def _finite(value: Any) -> Any:
    """Replace non-finite floats by None, recursively (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _atomic_write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        handle.write(payload)
    os.replace(handle.name, path)


def save_weights(run_dir: Path, model: torch.nn.Module | dict[str, torch.Tensor]) -> None:
    """Write ``run_dir/model.pt`` (a state dict of CPU tensors), atomically."""
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    state = {k: v.detach().cpu() for k, v in state.items()}
    path = run_dir / WEIGHTS_FILE
    with tempfile.NamedTemporaryFile(dir=run_dir, suffix=".tmp", delete=False) as handle:
        torch.save(state, handle)
    os.replace(handle.name, path)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict with ``weights_only=True``; anything else is a CheckpointError.

    Parameters
    ----------
    path
        The ``model.pt`` file.
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: refused to load (not a plain weights file; nothing in it was run): {first}"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{path}: not a state dict of named tensors")
    return state


def read_record(run_dir: Path) -> RunRecord:
    """Read and validate ``run_dir/model.json``."""
    path = Path(run_dir) / RECORD_FILE
    if not path.is_file():
        if (Path(run_dir) / ENSEMBLE_FILE).is_file():
            raise CheckpointError(
                f"{run_dir}: an ensemble run (use thermognn.training.ensemble.load_predictor, "
                "or one member folder under members/)"
            )
        raise CheckpointError(f"{run_dir}: not a run folder (no {RECORD_FILE})")
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable run record ({exc})") from None
    return RunRecord.from_dict(payload, str(path))


def check_schema(
    record: RunRecord,
    *,
    node_features: list[str] | tuple[str, ...],
    cutoff: float,
    labels: list[str] | tuple[str, ...] | None = None,
    where: str = "checkpoint",
) -> None:
    """Raise :class:`CheckpointError` unless the data's schema matches the record's.

    Parameters
    ----------
    record
        The model's record.
    node_features
        Node feature names of the data, in column order.
    cutoff
        Graph cutoff of the data, Å.
    labels
        Label names the data carries (each of the record's labels must be present),
        or ``None`` when the data has no labels (prediction).
    where
        Name of the checkpoint in messages.
    """
    if list(node_features) != list(record.node_features):
        raise CheckpointError(
            f"{where} was trained on node features {list(record.node_features)}, "
            f"but the data has {list(node_features)}"
        )
    if not math.isclose(float(cutoff), record.cutoff, rel_tol=0, abs_tol=1e-9):
        raise CheckpointError(
            f"{where} was trained on graphs with a {record.cutoff} Å cutoff, "
            f"but the data's graphs use {cutoff} Å"
        )
    if labels is not None:
        absent = [name for name in record.labels if name not in labels]
        if absent:
            raise CheckpointError(
                f"{where} predicts {record.labels}, but the data has no {', '.join(absent)} "
                f"(it has {list(labels)})"
            )


def load_model_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """``load_state_dict(strict=True)`` with mismatches reported as CheckpointError."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()
        raise CheckpointError(
            f"{where}: weights do not fit the recorded model ({detail[-1].strip() if detail else exc})"
        ) from None


def find_runs(path: str | Path) -> list[Path]:
    """Run folders at ``path``: itself, or its sub-folders (one per label) holding a run.

    An ensemble folder (``ensemble.json``) counts as one run.

    Raises
    ------
    CheckpointError
        When neither ``path`` nor any direct sub-folder holds a ``model.json``.
    """
    path = Path(path)

    def is_run(p: Path) -> bool:
        return (p / RECORD_FILE).is_file() or (p / ENSEMBLE_FILE).is_file()

    if is_run(path):
        return [path]
    runs = sorted(p for p in path.iterdir() if is_run(p)) if path.is_dir() else []
    if not runs:
        raise CheckpointError(
            f"{path}: not a run folder (no {RECORD_FILE} in it or its sub-folders)"
        )
    return runs


def check_record(record: RunRecord, where: str = RECORD_FILE) -> None:
    """Cross-check the parts of a run record that must agree; a mismatch is an error.

    The cutoff is positive and finite, equals the training settings' cutoff and the one
    fixed in the edge scaler, and is not shorter than the model's ``cutoff``
    hyperparameter or a min-max edge scaler's largest training distance; the labels are distinct, each
    with a unit, and as many as the model's outputs (``n_targets``) and the target
    scaler's columns; the node features are as many as the model's inputs
    (``in_channels``) and the node scaler's columns.

    Raises
    ------
    CheckpointError
        Naming the record and the two values that disagree.
    """
    cutoff = record.cutoff
    if not (math.isfinite(cutoff) and cutoff > 0):
        raise CheckpointError(f"{where}: cutoff {cutoff} Å is not a positive distance")
    for name, value in (
        ("training.cutoff", record.training.get("cutoff")),
        ("the edge scaler's cutoff", _scaler_cutoff(record)),
    ):
        if value is not None and not math.isclose(float(value), cutoff, rel_tol=1e-9):
            raise CheckpointError(f"{where}: cutoff {cutoff} Å disagrees with {name} {value} Å")
    model_cutoff = record.hparams.get("cutoff")
    if isinstance(model_cutoff, int | float) and model_cutoff > cutoff * (1 + 1e-9):
        raise CheckpointError(
            f"{where}: cutoff {cutoff} Å is shorter than the model's own cutoff {model_cutoff} Å"
        )
    edge = record.scalers.edge
    if edge.kind == "minmax" and edge.offset[0] + edge.scale[0] > cutoff * (1 + 1e-6):
        raise CheckpointError(
            f"{where}: cutoff {cutoff} Å is shorter than the longest training edge "
            f"({edge.offset[0] + edge.scale[0]:.4g} Å)"
        )
    labels = list(record.labels)
    if not labels or len(set(labels)) != len(labels):
        raise CheckpointError(f"{where}: labels {labels} are empty or repeated")
    if record.units and set(record.units) != set(labels):
        raise CheckpointError(
            f"{where}: labels {labels} disagree with the units recorded for {sorted(record.units)}"
        )
    for name, width in (
        ("hparams.n_targets", record.hparams.get("n_targets")),
        ("the target scaler", len(record.scalers.target.offset)),
    ):
        if width is not None and int(width) != len(labels):
            raise CheckpointError(
                f"{where}: {len(labels)} labels {labels}, but {name} has {width} outputs"
            )
    for name, width in (
        ("hparams.in_channels", record.hparams.get("in_channels")),
        ("the node scaler", len(record.scalers.node.offset)),
    ):
        if width is not None and int(width) != len(record.node_features):
            raise CheckpointError(
                f"{where}: {len(record.node_features)} node features, but {name} has {width}"
            )


def _scaler_cutoff(record: RunRecord) -> float | None:
    edge = record.scalers.edge
    return edge.offset[0] if edge.kind == "proximity" and edge.offset else None
