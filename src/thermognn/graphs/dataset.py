"""Graph datasets read from a study database, with an on-disk cache.

The study database is an ASE database (DESIGN.md §4): one row per configuration with
key-value pairs ``material``, ``scheme``, ``labeled``, ``parent_id`` and the labels
(``energy_per_atom`` eV/atom, ``band_gap`` eV, ``vbm`` eV, ``hydrostatic_stress`` GPa)
on labelled rows. :func:`load_graph_dataset` turns a selection of rows into a
:class:`GraphDataset` of PyG graphs (:func:`~thermognn.graphs.build_graph` layout)
carrying ``y`` [1, L], ``row_id`` [1] and ``parent_id`` [1].

The graphs of a selection are cached on disk (:mod:`~thermognn.graphs.cache`); rows are
read by :mod:`~thermognn.graphs.rows`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import torch
from torch_geometric.data import Data

from thermognn.errors import DatabaseError, ThermognnError
from thermognn.graphs.build import DEFAULT_CUTOFF, build_graph, set_fields
from thermognn.graphs.cache import cache_key, default_cache_dir, read_cache, write_cache
from thermognn.graphs.neighbours import GraphSettingsError, check_cutoff
from thermognn.graphs.rows import (
    NO_PARENT,
    SelectedRow,
    connect,
    describe_query,
    id_list,
    select_rows,
)
from thermognn.labels.base import LABEL_UNITS

__all__ = ["LABEL_UNITS", "NO_PARENT", "GraphDataset", "load_graph_dataset"]

logger = logging.getLogger(__name__)


class GraphDataset(Sequence[Data]):
    """A list of crystal graphs with the database bookkeeping of each graph.

    Indexing with an int gives a :class:`torch_geometric.data.Data`; indexing with a
    slice, a list of ints or an integer array gives a new :class:`GraphDataset` with the
    same label names (for splits). It can be passed straight to
    :class:`torch_geometric.loader.DataLoader`.

    Attributes
    ----------
    labels
        Label names, the columns of every graph's ``y``.
    row_ids
        Database row id of each graph, int64 ``[N]``.
    parent_ids
        ``parent_id`` of each row (:data:`NO_PARENT` when absent), int64 ``[N]``.
    schemes, materials
        ``scheme`` and ``material`` of each row (``""`` when absent).
    skipped
        Ids of the selected rows left out for missing or NaN labels.
    cutoff
        Graph cutoff radius (Å).
    cache_path
        The cache file read or written, ``None`` without a cache.
    from_cache
        Whether the graphs were read from the cache file.
    """

    def __init__(
        self,
        graphs: Sequence[Data],
        *,
        labels: Sequence[str],
        row_ids: Sequence[int] | np.ndarray,
        parent_ids: Sequence[int] | np.ndarray,
        schemes: Sequence[str],
        materials: Sequence[str],
        skipped: Sequence[int] = (),
        cutoff: float = DEFAULT_CUTOFF,
        cache_path: Path | None = None,
        from_cache: bool = False,
    ) -> None:
        self.graphs = list(graphs)
        self.labels = tuple(labels)
        self.row_ids = np.asarray(row_ids, dtype=np.int64).reshape(-1)
        self.parent_ids = np.asarray(parent_ids, dtype=np.int64).reshape(-1)
        self.schemes = list(schemes)
        self.materials = list(materials)
        self.skipped = [int(i) for i in skipped]
        self.cutoff = float(cutoff)
        self.cache_path = cache_path
        self.from_cache = from_cache
        n = len(self.graphs)
        lengths = {len(self.row_ids), len(self.parent_ids), len(self.schemes), len(self.materials)}
        if lengths != {n}:
            raise ThermognnError(f"GraphDataset: bookkeeping arrays do not all have {n} entries")

    def __len__(self) -> int:
        return len(self.graphs)

    @overload
    def __getitem__(self, index: int) -> Data: ...

    @overload
    def __getitem__(self, index: slice | Sequence[int] | np.ndarray) -> GraphDataset: ...

    def __getitem__(self, index: Any) -> Data | GraphDataset:
        if isinstance(index, int | np.integer):
            return self.graphs[int(index)]
        if isinstance(index, slice):
            picked = np.arange(len(self))[index]
        else:
            picked = np.asarray(index)
            if picked.dtype == bool:
                picked = np.flatnonzero(picked)
            picked = picked.astype(np.int64).reshape(-1)
        return GraphDataset(
            [self.graphs[k] for k in picked],
            labels=self.labels,
            row_ids=self.row_ids[picked],
            parent_ids=self.parent_ids[picked],
            schemes=[self.schemes[k] for k in picked],
            materials=[self.materials[k] for k in picked],
            skipped=self.skipped,
            cutoff=self.cutoff,
            cache_path=self.cache_path,
            from_cache=self.from_cache,
        )

    def __iter__(self) -> Iterator[Data]:
        return iter(self.graphs)

    @property
    def targets(self) -> np.ndarray:
        """All graphs' labels as a float32 array ``[N, L]`` (columns = :attr:`labels`)."""
        if not self.graphs:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return torch.cat([g.y for g in self.graphs]).numpy()

    def __repr__(self) -> str:
        return (
            f"GraphDataset({len(self)} graphs, labels={list(self.labels)}, "
            f"cutoff={self.cutoff} Å, skipped={len(self.skipped)})"
        )


def load_graph_dataset(
    db: str | os.PathLike[str] | Any,
    *,
    labels: Sequence[str],
    query: Mapping[str, Any] | str | None = None,
    cutoff: float = DEFAULT_CUTOFF,
    cache_dir: str | os.PathLike[str] | None = None,
    missing: Literal["skip", "error"] = "skip",
    use_cache: bool = True,
) -> GraphDataset:
    """Build (or read from the cache) the graphs of a selection of database rows.

    Parameters
    ----------
    db
        Path of the study database, an ASE database URL, or an open ASE database.
    labels
        Names of the labels to put in ``y``, e.g. ``["band_gap"]``; see
        :data:`LABEL_UNITS` for the standard ones and their units.
    query
        ASE selection: a dict of key=value (``{"scheme": "phonon"}``), a selection
        string (``"scheme=phonon,labeled=1"``), or ``None`` for every row.
    cutoff
        Graph cutoff radius in Å.
    cache_dir
        Folder of the cache files; by default ``<db file>.graphs/`` next to the
        database (no cache for a database that is not a local file).
    missing
        ``"skip"``: leave out rows with a missing or NaN label (logged, listed in
        ``.skipped``); ``"error"``: raise.
    use_cache
        Read and write the cache file.

    Returns
    -------
    GraphDataset
        One graph per kept row, in row-id order.

    Raises
    ------
    DatabaseError
        For a missing database file, a selection that matches no row, an invalid
        selection, a missing label with ``missing="error"``, a non-numeric label, or
        no row left after skipping.
    GraphSettingsError
        For an invalid cutoff, label list or ``missing`` policy.
    StructureError
        For a row whose structure cannot be a crystal graph (names the row).
    """
    cutoff = check_cutoff(cutoff)
    label_names = _check_labels(labels)
    if missing not in ("skip", "error"):
        raise GraphSettingsError(f"missing must be 'skip' or 'error', got {missing!r}")
    database, db_path = connect(db)
    rows = select_rows(database, query, label_names)

    incomplete = [row.id for row in rows if not row.complete]
    if incomplete and missing == "error":
        raise DatabaseError(
            f"{len(incomplete)} selected row(s) lack a finite value of "
            f"{'/'.join(label_names)}: ids {id_list(incomplete)}"
        )
    if incomplete:
        logger.warning(
            "skipping %d of %d selected rows without a finite %s: ids %s",
            len(incomplete),
            len(rows),
            "/".join(label_names),
            id_list(incomplete),
        )
    kept = [row for row in rows if row.complete]
    if not kept:
        raise DatabaseError(
            f"no row of selection {describe_query(query)} has finite values of "
            f"{'/'.join(label_names)} ({len(rows)} selected, all skipped; not labeled yet?)"
        )

    cache_path, key = None, ""
    if use_cache:
        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir(db_path)
        if folder is not None:
            key = cache_key(kept, cutoff)
            cache_path = folder / f"graphs-{key[:24]}.npz"
            cached = read_cache(cache_path, key)
            if cached is not None and len(cached) == len(kept):
                logger.info("graph cache hit: %s (%d graphs)", cache_path, len(cached))
                return _dataset(kept, cached, label_names, incomplete, cutoff, cache_path, True)
            logger.info("graph cache miss: building %d graphs into %s", len(kept), cache_path)

    graphs = [_row_graph(row, cutoff) for row in kept]
    edgeless = [row.id for row, graph in zip(kept, graphs, strict=True) if graph.num_edges == 0]
    if edgeless:  # refused before the cache is written
        raise GraphSettingsError(
            f"cutoff {cutoff} Å: no two atoms of row{'s' if len(edgeless) > 1 else ''} "
            f"{id_list(edgeless)} are that close (a graph without edges); use a longer cutoff"
        )
    if cache_path is not None:
        write_cache(cache_path, key, graphs, cutoff)
    return _dataset(kept, graphs, label_names, incomplete, cutoff, cache_path, False)


def _check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """Validate the label names."""
    if isinstance(labels, str):
        labels = [labels]
    names = tuple(labels)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise GraphSettingsError(f"labels must be a non-empty list of label names, got {labels!r}")
    if len(set(names)) != len(names):
        raise GraphSettingsError(f"duplicate label names in {list(names)}")
    return names


def _row_graph(row: SelectedRow, cutoff: float) -> Data:
    """Build one row's graph; name the row in any error."""
    try:
        return build_graph(row.row.toatoms(), cutoff, labels=row.values)
    except ThermognnError as err:
        raise type(err)(f"row {row.id}: {err}") from err


def _dataset(
    rows: list[SelectedRow],
    graphs: list[Data],
    label_names: tuple[str, ...],
    skipped: list[int],
    cutoff: float,
    cache_path: Path | None,
    from_cache: bool,
) -> GraphDataset:
    """Attach the row bookkeeping to the graphs and wrap them."""
    y = torch.tensor([row.values for row in rows], dtype=torch.float32).reshape(len(rows), -1)
    ids = torch.tensor([[row.id, row.parent_id] for row in rows], dtype=torch.int64)
    for k, graph in enumerate(graphs):
        set_fields(graph, y=y[k : k + 1], row_id=ids[k, :1], parent_id=ids[k, 1:])
    return GraphDataset(
        graphs,
        labels=label_names,
        row_ids=[row.id for row in rows],
        parent_ids=[row.parent_id for row in rows],
        schemes=[row.scheme for row in rows],
        materials=[row.material for row in rows],
        skipped=skipped,
        cutoff=cutoff,
        cache_path=cache_path,
        from_cache=from_cache,
    )
