"""Graph datasets read from a study database, with an on-disk cache.

The study database is an ASE database (DESIGN.md §4): one row per configuration with
key-value pairs ``material``, ``scheme``, ``labeled``, ``parent_id`` and the labels
(``energy_per_atom`` eV/atom, ``band_gap`` eV, ``vbm`` eV, ``hydrostatic_stress`` GPa)
on labelled rows. :func:`load_graph_dataset` turns a selection of rows into a
:class:`GraphDataset` of PyG graphs (:func:`~thermognn.graphs.build_graph` layout)
carrying ``y`` [1, L], ``row_id`` [1] and ``parent_id`` [1].

Cache: the graphs of one selection are stored as a single ``.npz`` file (no pickles,
loaded with ``allow_pickle=False``) named by a SHA-256 key over the selected rows' id,
unique id, modification time and label values, the cutoff, the label names, the node
feature schema and :data:`~thermognn.graphs.build.GRAPH_FORMAT_VERSION`. Changing any
of them (relabelling a row, rewriting its atoms, a new cutoff) gives a new key and a
rebuild; stale cache files are left in place, never deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import torch
from torch_geometric.data import Data

from thermognn.errors import DatabaseError, ThermognnError
from thermognn.graphs.build import DEFAULT_CUTOFF, GRAPH_FORMAT_VERSION, build_graph
from thermognn.graphs.features import NODE_FEATURES
from thermognn.graphs.neighbours import GraphSettingsError, check_cutoff
from thermognn.labels.base import LABEL_UNITS

__all__ = ["LABEL_UNITS", "NO_PARENT", "GraphDataset", "load_graph_dataset"]

logger = logging.getLogger(__name__)

#: Parent id stored for rows without a ``parent_id`` key (the reference rows).
NO_PARENT = -1

_MAX_LISTED_IDS = 10


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


@dataclass(frozen=True)
class _Row:
    """What the dataset needs from one database row."""

    id: int
    unique_id: str
    mtime: float
    material: str
    scheme: str
    parent_id: int
    values: tuple[float, ...]
    row: Any

    @property
    def complete(self) -> bool:
        return all(math.isfinite(v) for v in self.values)


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
    database, db_path = _connect(db)
    rows = _select_rows(database, query, label_names)

    incomplete = [row.id for row in rows if not row.complete]
    if incomplete and missing == "error":
        raise DatabaseError(
            f"{len(incomplete)} selected row(s) lack a finite value of "
            f"{'/'.join(label_names)}: ids {_id_list(incomplete)}"
        )
    if incomplete:
        logger.warning(
            "skipping %d of %d selected rows without a finite %s: ids %s",
            len(incomplete),
            len(rows),
            "/".join(label_names),
            _id_list(incomplete),
        )
    kept = [row for row in rows if row.complete]
    if not kept:
        raise DatabaseError(
            f"no row of selection {_describe(query)} has finite values of "
            f"{'/'.join(label_names)} ({len(rows)} selected, all skipped; not labeled yet?)"
        )

    cache_path, key = None, ""
    if use_cache:
        folder = Path(cache_dir) if cache_dir is not None else _default_cache_dir(db_path)
        if folder is not None:
            key = _cache_key(rows, label_names, cutoff)
            cache_path = folder / f"graphs-{key[:24]}.npz"
            cached = _read_cache(cache_path, key)
            if cached is not None and len(cached) == len(kept):
                logger.info("graph cache hit: %s (%d graphs)", cache_path, len(cached))
                return _dataset(kept, cached, label_names, incomplete, cutoff, cache_path, True)
            logger.info("graph cache miss: building %d graphs into %s", len(kept), cache_path)

    graphs = [_row_graph(row, cutoff) for row in kept]
    if cache_path is not None:
        _write_cache(cache_path, key, graphs, label_names, cutoff)
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


def _connect(db: Any) -> tuple[Any, Path | None]:
    """Open the database; return it and its local file path (``None`` if not a file)."""
    import ase.db
    from ase.db.core import Database

    if isinstance(db, Database):
        filename = getattr(db, "filename", None)
        path = Path(filename) if isinstance(filename, str | os.PathLike) else None
        return db, path if path is not None and path.is_file() else None
    text = os.fspath(db)
    if "://" in text:
        return ase.db.connect(text), None
    path = Path(text)
    if not path.is_file():
        raise DatabaseError(f"study database {path} does not exist")
    return ase.db.connect(path), path


def _select_rows(database: Any, query: Any, label_names: tuple[str, ...]) -> list[_Row]:
    """Read the selected rows (atoms, bookkeeping and label values), sorted by id."""
    if query is None:
        args: tuple[Any, ...] = ()
        kwargs: dict[str, Any] = {}
    elif isinstance(query, str):
        args, kwargs = (query,), {}
    elif isinstance(query, Mapping):
        args, kwargs = (), dict(query)
    else:
        raise GraphSettingsError(f"query must be a dict, a selection string or None, got {query!r}")
    try:
        raw = list(database.select(*args, include_data=False, **kwargs))
    except (ValueError, KeyError, TypeError) as err:
        raise DatabaseError(f"invalid database selection {_describe(query)}: {err}") from err
    if not raw:
        raise DatabaseError(f"database selection {_describe(query)} matches no row")
    absent = [
        n for n in label_names if n not in LABEL_UNITS and not any(_has_key(row, n) for row in raw)
    ]
    if absent:
        numeric = sorted(
            {
                k
                for row in raw
                for k, v in row.key_value_pairs.items()
                if isinstance(v, float) and not k.endswith("_id")
            }
        )
        raise DatabaseError(
            f"label: unknown {'/'.join(absent)} (no row of selection {_describe(query)} "
            f"has it); numeric keys here: {', '.join(numeric) or 'none'}"
        )
    rows = [_read_row(row, label_names) for row in raw]
    return sorted(rows, key=lambda row: row.id)


def _has_key(row: Any, name: str) -> bool:
    return name in row.key_value_pairs or getattr(row, name, None) is not None


def _read_row(row: Any, label_names: tuple[str, ...]) -> _Row:
    """One database row → :class:`_Row` (missing labels as NaN)."""
    values = []
    for name in label_names:
        value = row.key_value_pairs.get(name, getattr(row, name, None))
        if value is None:
            values.append(math.nan)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise DatabaseError(f"row {row.id}: label {name} is {value!r}, not a number")
        values.append(float(value))
    parent = row.key_value_pairs.get("parent_id")
    return _Row(
        id=int(row.id),
        unique_id=str(row.get("unique_id", "")),
        mtime=float(row.get("mtime", 0.0)),
        material=str(row.key_value_pairs.get("material", "")),
        scheme=str(row.key_value_pairs.get("scheme", "")),
        parent_id=NO_PARENT if parent is None else int(parent),
        values=tuple(values),
        row=row,
    )


def _row_graph(row: _Row, cutoff: float) -> Data:
    """Build one row's graph; name the row in any error."""
    try:
        return build_graph(row.row.toatoms(), cutoff, labels=row.values)
    except ThermognnError as err:
        raise type(err)(f"row {row.id}: {err}") from err


def _dataset(
    rows: list[_Row],
    graphs: list[Data],
    label_names: tuple[str, ...],
    skipped: list[int],
    cutoff: float,
    cache_path: Path | None,
    from_cache: bool,
) -> GraphDataset:
    """Attach the row bookkeeping to the graphs and wrap them."""
    for row, graph in zip(rows, graphs, strict=True):
        graph.row_id = torch.tensor([row.id], dtype=torch.int64)
        graph.parent_id = torch.tensor([row.parent_id], dtype=torch.int64)
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


def _describe(query: Any) -> str:
    return "(all rows)" if query is None else repr(query)


def _id_list(ids: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:_MAX_LISTED_IDS])
    return shown + (
        f", … ({len(ids) - _MAX_LISTED_IDS} more)" if len(ids) > _MAX_LISTED_IDS else ""
    )


# --------------------------------------------------------------------------- cache


def _default_cache_dir(db_path: Path | None) -> Path | None:
    """``<db file>.graphs/`` next to a local database file."""
    return None if db_path is None else db_path.with_name(db_path.name + ".graphs")


def _cache_key(rows: list[_Row], label_names: tuple[str, ...], cutoff: float) -> str:
    """SHA-256 over the selected rows' identity and labels and the graph settings."""
    record = {
        "graph_format": GRAPH_FORMAT_VERSION,
        "node_features": list(NODE_FEATURES),
        "cutoff": float(cutoff).hex(),
        "labels": list(label_names),
        "rows": [
            [row.id, row.unique_id, float(row.mtime).hex(), [float(v).hex() for v in row.values]]
            for row in rows
        ],
    }
    return hashlib.sha256(json.dumps(record).encode()).hexdigest()


_NODE_FIELDS = ("x", "z", "pos")
_EDGE_FIELDS = ("edge_attr", "edge_shift")


def _write_cache(
    path: Path, key: str, graphs: list[Data], label_names: tuple[str, ...], cutoff: float
) -> None:
    """Write the graphs as one ``.npz`` file, atomically (temporary file + rename)."""
    arrays: dict[str, Any] = {
        "key": np.array(key),
        "labels": np.array(label_names),
        "cutoff": np.array(cutoff),
        "node_ptr": np.cumsum([0] + [g.num_nodes for g in graphs]).astype(np.int64),
        "edge_ptr": np.cumsum([0] + [g.num_edges for g in graphs]).astype(np.int64),
        "edge_index": torch.cat([g.edge_index for g in graphs], dim=1).numpy(),
        "cell": torch.cat([g.cell for g in graphs]).numpy(),
        "y": torch.cat([g.y for g in graphs]).numpy(),
    }
    for name in _NODE_FIELDS + _EDGE_FIELDS:
        arrays[name] = torch.cat([g[name] for g in graphs]).numpy()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            np.savez(handle, **arrays)
        os.replace(handle.name, path)
    except OSError as err:
        logger.warning("could not write the graph cache %s: %s", path, err)


def _read_cache(path: Path, key: str) -> list[Data] | None:
    """Read the graphs of a cache file; ``None`` when absent, stale or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["key"]) != key:
                return None
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, KeyError) as err:
        logger.warning("ignoring unreadable graph cache %s: %s", path, err)
        return None
    node_ptr, edge_ptr = arrays["node_ptr"], arrays["edge_ptr"]
    graphs = []
    for k in range(len(node_ptr) - 1):
        nodes = slice(node_ptr[k], node_ptr[k + 1])
        edges = slice(edge_ptr[k], edge_ptr[k + 1])
        fields = {name: torch.from_numpy(arrays[name][nodes].copy()) for name in _NODE_FIELDS}
        fields.update({name: torch.from_numpy(arrays[name][edges].copy()) for name in _EDGE_FIELDS})
        graphs.append(
            Data(
                edge_index=torch.from_numpy(arrays["edge_index"][:, edges].copy()),
                cell=torch.from_numpy(arrays["cell"][k : k + 1].copy()),
                y=torch.from_numpy(arrays["y"][k : k + 1].copy()),
                **fields,
            )
        )
    return graphs
