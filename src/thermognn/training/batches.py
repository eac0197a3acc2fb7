"""Batch sources: the same interface over dense (precomputed) and sparse (PyG) batches.

A source holds model-ready (scaled) graphs and targets; it yields ``(inputs, y)``
batches and knows how to call a model on its inputs, so the training loop never needs
to know which path is used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from thermognn.models.dense import DenseBatch, DenseGraphStore


def batch_positions(n: int, batch_size: int, generator: torch.Generator | None) -> list[Tensor]:
    """Positions 0…n−1 cut into batches, shuffled when ``generator`` is given.

    A trailing batch of a single graph is merged into the previous one (BatchNorm
    needs more than one value per channel in training mode).
    """
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    chunks = list(order.split(batch_size))
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks[-2] = torch.cat(chunks[-2:])
        chunks.pop()
    return chunks


_S = TypeVar("_S", bound="_Source")


class _Source:
    """Scaled graphs and targets that yield ``(inputs, y)`` batches.

    Parameters
    ----------
    graphs
        Scaled graphs (``x``, ``edge_index``, ``edge_weight``).
    targets
        Scaled targets ``[n, T]`` (or ``None`` for prediction).
    """

    dense: bool

    def __init__(self, graphs: Sequence[Data], targets: Tensor | None) -> None:
        self.targets = targets
        self.n_graphs = len(graphs)
        self._hold(graphs)

    def _hold(self, graphs: Sequence[Data]) -> None:
        raise NotImplementedError

    def _place(self, device: torch.device) -> None:
        raise NotImplementedError

    def _batch(self, index: Tensor) -> tuple[Any, Tensor | None]:
        """The model inputs and targets of the graphs at positions ``index``."""
        raise NotImplementedError

    def __len__(self) -> int:
        return self.n_graphs

    def batches(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> Iterator[tuple[Any, Tensor | None]]:
        """Yield ``(inputs, y)`` batches; shuffled with ``generator``."""
        for index in batch_positions(len(self), batch_size, generator):
            yield self._batch(index)

    def to(self: _S, device: torch.device) -> _S:
        """Move the tensors to ``device`` (in place); returns self."""
        self._place(torch.device(device))
        if self.targets is not None:
            self.targets = self.targets.to(device)
        return self


class DenseSource(_Source):
    """Graphs as one :class:`DenseGraphStore`; a batch is a single index operation."""

    dense = True

    def _hold(self, graphs: Sequence[Data]) -> None:
        self.store = DenseGraphStore(graphs)

    def _place(self, device: torch.device) -> None:
        self.store.to(device)

    def _batch(self, index: Tensor) -> tuple[DenseBatch, Tensor | None]:
        """A :class:`DenseBatch` and its targets."""
        index = index.to(self.store.x.device)
        y = None if self.targets is None else self.targets[index]
        return self.store.batch(index), y

    @staticmethod
    def forward(model: torch.nn.Module, inputs: Any) -> Tensor:
        """Call the model's dense path."""
        return model.forward_dense(inputs)  # type: ignore[operator]


class SparseSource(_Source):
    """Graphs collated into PyG batches (any sizes, any model); moved as they are made."""

    dense = False

    def _hold(self, graphs: Sequence[Data]) -> None:
        self.graphs = list(graphs)
        self.device = torch.device("cpu")
        self._cache_key: Any = None
        self._cache: list[Tensor] = []

    def _place(self, device: torch.device) -> None:
        self.device = device

    def _batch(self, index: Tensor) -> tuple[PendingBatch, Tensor | None]:
        """The graphs at ``index`` (collated when a model needs it) and their targets."""
        y = None if self.targets is None else self.targets[index.to(self.targets.device)]
        return PendingBatch(self, index), y

    def forward(self, model: torch.nn.Module, inputs: PendingBatch) -> Tensor:
        """Call the model's sparse forward.

        Families with ``needs_vectors`` also get ``edge_vec``; one with a parameter-free
        ``precompute`` gets its per-node result instead, computed once per graph of this
        source and cached (keyed by the model's ``precompute_key()``), and its batches
        are never collated: the atoms' features, their graph and the cached rows are
        all it reads.
        """
        if not getattr(model, "needs_vectors", False):
            b = inputs.collated
            return model(b.x, b.edge_index, b.edge_weight, b.batch)
        if hasattr(model, "precompute"):
            index = inputs.index
            node_inputs = self._node_inputs(model, index)
            graphs = [self.graphs[int(i)] for i in index]
            x = torch.cat([g.x for g in graphs]).to(self.device)
            counts = torch.tensor([int(g.x.shape[0]) for g in graphs], device=self.device)
            batch = torch.repeat_interleave(torch.arange(len(graphs), device=self.device), counts)
            empty = torch.zeros(2, 0, dtype=torch.long, device=self.device)
            return model(x, empty, None, batch, node_inputs=node_inputs)
        b = inputs.collated
        return model(b.x, b.edge_index, b.edge_weight, b.batch, edge_vec=b.edge_vec)

    def _node_inputs(self, model: Any, index: Tensor) -> Tensor:
        """The cached ``model.precompute`` rows of the graphs at ``index``, in order."""
        key = model.precompute_key()
        if key != self._cache_key:
            self._cache = []
            for start in range(0, len(self.graphs), 64):  # small chunks: cache-friendly
                part = self.graphs[start : start + 64]
                batch = Batch.from_data_list(part).to(self.device)
                values = model.precompute(batch.x, batch.edge_index, batch.edge_vec)
                self._cache += list(values.split([int(g.num_nodes) for g in part]))
            self._cache_key = key
        return torch.cat([self._cache[int(i)] for i in index])


class PendingBatch:
    """The graphs at ``index`` of a :class:`SparseSource`, collated on first use."""

    def __init__(self, source: SparseSource, index: Tensor) -> None:
        self.source, self.index = source, index
        self._collated: Batch | None = None

    @property
    def collated(self) -> Batch:
        """A PyG :class:`Batch` of the graphs, on the source's device."""
        if self._collated is None:
            graphs = [self.source.graphs[int(i)] for i in self.index]
            self._collated = Batch.from_data_list(graphs).to(self.source.device)
        return self._collated


def make_source(
    graphs: Sequence[Data], targets: Tensor | None, dense: bool
) -> DenseSource | SparseSource:
    """A dense or sparse source over the same graphs."""
    return DenseSource(graphs, targets) if dense else SparseSource(graphs, targets)


@torch.no_grad()
def predict_scaled(
    model: torch.nn.Module, source: DenseSource | SparseSource, batch_size: int
) -> Tensor:
    """Scaled predictions ``[n, T]`` of a model in eval mode, in source order (on CPU)."""
    was_training = model.training
    model.eval()
    try:
        outs = [source.forward(model, inputs) for inputs, _ in source.batches(batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs).cpu() if outs else torch.zeros(0)
