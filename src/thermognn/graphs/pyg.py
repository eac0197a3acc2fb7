"""A PyG ``InMemoryDataset`` of crystal graphs, from a study database or a structure file.

::

    from torch_geometric.loader import DataLoader
    from thermognn.graphs.pyg import CrystalGraphDataset

    data = CrystalGraphDataset("study.db", labels=["band_gap"], query="scheme=phonon")
    data = CrystalGraphDataset("train.xyz", labels=["energy_per_atom", "band_gap"])
    loader = DataLoader(data, batch_size=32, shuffle=True)

Each graph has the :func:`~thermognn.graphs.build_graph` fields (``x`` node features,
``edge_index``, ``edge_attr`` distances in Å, ``pos`` Å, ``cell`` Å, ``z``), ``y``
[1, L] in the labels' physical units (columns = :attr:`CrystalGraphDataset.labels`),
``row_id`` and ``parent_id``. A study database goes through
:func:`~thermognn.graphs.load_graph_dataset` (its graph cache included); any other
file through :func:`~thermognn.graphs.structures.load_structure_dataset`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch_geometric.data import InMemoryDataset

from thermognn.graphs.build import DEFAULT_CUTOFF
from thermognn.graphs.dataset import GraphDataset, load_graph_dataset
from thermognn.graphs.structures import load_structure_dataset

__all__ = ["CrystalGraphDataset", "is_study_database"]


def is_study_database(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` is an ASE database (a URL or an SQLite file), not a structure file."""
    text = os.fspath(source)
    if "://" in text:
        return True
    path = Path(text)
    if not path.is_file():
        return path.suffix == ".db"
    with path.open("rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


class CrystalGraphDataset(InMemoryDataset):
    """Crystal graphs of a study database or a labeled structure file, held in memory.

    Parameters
    ----------
    source
        A study database (path or URL) or any structure file ASE reads (extxyz …).
    labels
        Label names (columns of ``y``).
    query
        ASE selection of database rows (default ``labeled=1``; ignored for files).
    cutoff
        Graph cutoff radius, Å.
    missing
        ``skip`` rows/frames without a finite label, or ``error``.
    transform, pre_transform, pre_filter
        As for any PyG dataset (``pre_*`` applied once, when the graphs are built).

    Attributes
    ----------
    labels
        Label names.
    graphs
        The underlying :class:`~thermognn.graphs.GraphDataset` (row bookkeeping).
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        *,
        labels: Sequence[str] = ("band_gap",),
        query: str | None = "labeled=1",
        cutoff: float = DEFAULT_CUTOFF,
        missing: str = "skip",
        transform: Callable[[Any], Any] | None = None,
        pre_transform: Callable[[Any], Any] | None = None,
        pre_filter: Callable[[Any], bool] | None = None,
    ) -> None:
        super().__init__(None, transform, pre_transform, pre_filter)
        self.source = os.fspath(source)
        names = [labels] if isinstance(labels, str) else list(labels)
        if is_study_database(source):
            dataset: GraphDataset = load_graph_dataset(
                source,
                labels=names,
                query=query,
                cutoff=cutoff,
                missing=missing,  # type: ignore[arg-type]
            )
        else:
            dataset = load_structure_dataset(
                source,
                labels=names,
                cutoff=cutoff,
                missing=missing,  # type: ignore[arg-type]
            )
        self.graphs = dataset
        self.labels = tuple(dataset.labels)
        data_list = list(dataset)
        if pre_filter is not None:
            data_list = [g for g in data_list if pre_filter(g)]
        if pre_transform is not None:
            data_list = [pre_transform(g) for g in data_list]
        self._data, self.slices = self.collate(data_list)

    def __repr__(self) -> str:
        return f"CrystalGraphDataset({len(self)}, labels={list(self.labels)}, source={self.source})"
