"""Predictions in physical units from a trained run folder.

:class:`Predictor` loads a run once (weights with ``weights_only=True``, the record,
the scalers), checks that the installed package builds graphs with the record's feature
schema, and predicts for graphs or for ASE structures. Structures of one size with a
dense-capable model skip the edge lists altogether: the dense adjacency comes straight
from positions and cells (:mod:`thermognn.models.periodic`), thousands of 40-atom cells
per second on one core.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from torch_geometric.data import Data

from thermognn.errors import CheckpointError
from thermognn.models import get_model
from thermognn.models.dense import DenseBatch
from thermognn.models.periodic import periodic_adjacency
from thermognn.training.batches import make_source, predict_scaled
from thermognn.training.checkpoint import (
    WEIGHTS_FILE,
    RunRecord,
    check_schema,
    load_model_weights,
    load_weights,
    read_record,
)

logger = logging.getLogger(__name__)


def load_run(run_dir: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, RunRecord]:
    """Load a trained model and its record from a run folder.

    Parameters
    ----------
    run_dir
        Folder written by :func:`thermognn.training.train_run`.
    device
        Device for the model.

    Returns
    -------
    (torch.nn.Module, RunRecord)
        The model in eval mode with the best weights, and its record (scalers, labels,
        units, feature schema, hyperparameters, …).

    Raises
    ------
    CheckpointError
        For a missing or malformed record, an unknown model, weights that are not a
        plain state dict (pickled objects are refused unexecuted) or do not fit.
    """
    from thermognn.errors import ThermognnError

    run_dir = Path(run_dir)
    record = read_record(run_dir)
    state = load_weights(run_dir / WEIGHTS_FILE)
    try:
        model = get_model(record.model, **record.hparams)
    except (ThermognnError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{run_dir}: cannot rebuild model {record.model!r} ({exc})") from None
    load_model_weights(model, state, str(run_dir / WEIGHTS_FILE))
    return model.to(device).eval(), record


class Predictor:
    """A loaded run that predicts labels in physical units.

    Parameters
    ----------
    model
        The trained model.
    record
        Its run record.
    device
        Device the model lives on.
    """

    def __init__(self, model: torch.nn.Module, record: RunRecord, device: str = "cpu") -> None:
        from thermognn.graphs import NODE_FEATURES

        check_schema(record, node_features=NODE_FEATURES, cutoff=record.cutoff, where="model")
        self.model = model.eval()
        self.record = record
        self.device = torch.device(device)
        self.dense = bool(getattr(model, "supports_dense", False))

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "cpu") -> Predictor:
        """Load ``run_dir`` (see :func:`load_run`)."""
        model, record = load_run(run_dir, device)
        return cls(model, record, device)

    @property
    def labels(self) -> list[str]:
        """Predicted label names, in column order."""
        return list(self.record.labels)

    def predict_graphs(self, graphs: Sequence[Data], batch_size: int = 512) -> np.ndarray:
        """Predict for crystal graphs (``build_graph`` layout).

        Returns
        -------
        numpy.ndarray
            ``[n, n_labels]`` in the labels' units (float64).
        """
        scalers = self.record.scalers
        scaled = scalers.transform_graphs(graphs)
        source = make_source(scaled, None, self.dense).to(self.device)
        out = predict_scaled(self.model, source, batch_size)
        return self._physical(out, len(graphs))

    def predict_atoms(self, structures: Sequence[Atoms], batch_size: int = 256) -> np.ndarray:
        """Predict for ASE structures (periodic crystals).

        Returns
        -------
        numpy.ndarray
            ``[n, n_labels]`` in the labels' units (float64).
        """
        structures = list(structures)
        if not structures:
            return np.zeros((0, len(self.labels)))
        same_size = len({len(a) for a in structures}) == 1
        if same_size and getattr(self.model, "needs_vectors", False):
            chunks = [structures[i : i + 64] for i in range(0, len(structures), 64)]
            with torch.no_grad():
                outs = [self._vector_forward(c) for c in chunks]
            return self._physical(torch.cat(outs).cpu(), len(structures))
        if not self.dense or not same_size:
            from thermognn.graphs import build_graph

            graphs = [build_graph(a, self.record.cutoff) for a in structures]
            return self.predict_graphs(graphs, batch_size)
        chunks = [structures[i : i + batch_size] for i in range(0, len(structures), batch_size)]
        with torch.no_grad():
            outs = [self.model.forward_dense(self._dense_batch(c)) for c in chunks]  # type: ignore[operator]
        return self._physical(torch.cat(outs).cpu(), len(structures))

    def _vector_forward(self, structures: Sequence[Atoms]) -> torch.Tensor:
        """Scaled predictions of same-size structures for a family that reads bond vectors.

        The bonds come from :func:`~thermognn.models.periodic.periodic_edge_vectors` for
        the whole chunk at once (the edges of ``build_graph``, without a graph per
        structure).
        """
        from thermognn.graphs import node_features
        from thermognn.graphs.neighbours import check_periodic_cell
        from thermognn.models.periodic import periodic_edge_vectors

        cells = [check_periodic_cell(a) for a in structures]
        positions = torch.from_numpy(np.stack([p for p, _ in cells]))
        lattice = torch.from_numpy(np.stack([c for _, c in cells]))
        src, dst, vectors = periodic_edge_vectors(positions, lattice, self.record.cutoff)
        numbers = np.concatenate([a.numbers for a in structures])
        x = self.record.scalers.node.transform(torch.from_numpy(node_features(numbers)))
        batch = torch.arange(len(structures)).repeat_interleave(len(structures[0]))
        self.model.eval()
        return self.model(
            x.to(self.device),
            torch.stack([src, dst]).to(self.device),
            None,
            batch.to(self.device),
            edge_vec=vectors.float().to(self.device),
        )

    def _dense_batch(self, structures: Sequence[Atoms]) -> DenseBatch:
        """Scaled dense inputs of same-size structures, without edge lists."""
        from thermognn.graphs import node_features
        from thermognn.graphs.neighbours import check_periodic_cell

        scalers = self.record.scalers
        cells = [check_periodic_cell(a) for a in structures]
        positions = torch.from_numpy(np.stack([p for p, _ in cells]))
        lattice = torch.from_numpy(np.stack([c for _, c in cells]))
        (offset,), (scale,) = scalers.edge.offset, scalers.edge.scale
        adj = periodic_adjacency(positions, lattice, self.record.cutoff, scale, offset).float()
        numbers = np.concatenate([a.numbers for a in structures])
        x = torch.from_numpy(node_features(numbers)).view(
            len(structures), -1, len(self.record.node_features)
        )
        n_nodes = torch.full((len(structures),), x.shape[1], dtype=torch.long)
        return DenseBatch(scalers.node.transform(x), adj, n_nodes).to(self.device)

    def _physical(self, scaled: torch.Tensor, n: int) -> np.ndarray:
        if n == 0:
            return np.zeros((0, len(self.labels)))
        values = self.record.scalers.target.inverse(scaled.double().reshape(n, -1))
        return values.numpy()


def predict_structures(
    run_dir: str | Path, atoms_list: Sequence[Atoms], *, device: str = "cpu", batch_size: int = 256
) -> np.ndarray:
    """Predict the run's labels for ASE structures, in physical units.

    Parameters
    ----------
    run_dir
        A run folder.
    atoms_list
        Periodic crystals (any size; same-size cells take the fast dense route).
    device
        ``cpu`` or ``cuda``.
    batch_size
        Structures per model call.

    Returns
    -------
    numpy.ndarray
        ``[n, n_labels]``; columns in the order of the run's labels (``record.labels``),
        units in ``record.units`` (eV/atom, eV, GPa).

    Raises
    ------
    StructureError
        For a structure that is not a periodic crystal, has unknown elements or
        overlapping atoms (the checks of :func:`thermognn.structures.check_structure`).
    """
    from thermognn.structures import check_structure

    predictor = Predictor.from_run(run_dir, device)
    checked = [check_structure(a, source=f"structure {k}") for k, a in enumerate(atoms_list)]
    return predictor.predict_atoms(checked, batch_size)
