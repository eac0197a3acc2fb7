"""Graph datasets read from a labeled structure file (extxyz, traj, …) instead of a study.

Labels are read from each frame's ``info`` (``band_gap``, ``vbm`` …, or any other
numeric key); ``energy_per_atom`` and ``hydrostatic_stress`` fall back to the frame's
calculator results (energy / number of atoms, tr(σ)/3 in GPa) when ``info`` lacks them,
so a file written by any code that stores energy and stress is usable as it is.
Bookkeeping comes from ``info`` where present (``row_id``, ``parent_id``, ``scheme``,
``material``); otherwise a frame's id is its position in the file (from 1).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from ase import Atoms
from torch_geometric.data import Data

from thermognn.errors import DatabaseError, StructureError, ThermognnError
from thermognn.graphs.build import DEFAULT_CUTOFF, build_graph
from thermognn.graphs.dataset import GraphDataset
from thermognn.graphs.neighbours import GraphSettingsError, check_cutoff
from thermognn.graphs.rows import NO_PARENT, id_list

logger = logging.getLogger(__name__)


def read_frames(path: str | os.PathLike[str], index: str = ":") -> list[Atoms]:
    """Every frame of a structure file ASE reads; one clear error when unreadable."""
    import ase.io

    try:
        frames = ase.io.read(os.fspath(path), index=index)
    except FileNotFoundError:
        raise StructureError(f"{path}: no such structure file") from None
    except Exception as exc:  # noqa: BLE001 - ASE raises many types for bad files
        raise StructureError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise StructureError(f"{path}: no structure in the file")
    return frames


def frame_label(atoms: Atoms, name: str) -> float:
    """Label ``name`` of a frame from ``info``, else from its results; NaN when absent."""
    value: Any = atoms.info.get(name)
    if value is None and atoms.calc is not None:
        results = getattr(atoms.calc, "results", {})
        if name == "energy_per_atom" and "energy" in results:
            value = float(results["energy"]) / len(atoms)
        elif name == "hydrostatic_stress" and "stress" in results:
            from ase.units import GPa

            stress = np.asarray(results["stress"], dtype=float).reshape(-1)
            value = float(np.mean(stress[:3] if stress.size == 6 else stress[[0, 4, 8]]) / GPa)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise DatabaseError(f"label {name} is {value!r}, not a number")
    return float(value)


def load_structure_dataset(
    path: str | os.PathLike[str],
    *,
    labels: Sequence[str],
    cutoff: float = DEFAULT_CUTOFF,
    missing: Literal["skip", "error"] = "skip",
    index: str = ":",
) -> GraphDataset:
    """Crystal graphs of the labeled frames of a structure file.

    Parameters
    ----------
    path
        Any file ASE reads with several frames (extxyz, traj, a study db …).
    labels
        Label names, read per frame by :func:`frame_label`.
    cutoff
        Graph cutoff radius in Å.
    missing
        ``"skip"`` frames without a finite label (listed in ``.skipped``) or ``"error"``.
    index
        ASE frame selection (``":"`` = all).

    Raises
    ------
    StructureError
        An unreadable file, or a frame that cannot be a crystal graph (names it).
    DatabaseError
        A missing label with ``missing="error"``, a non-numeric label, no frame left.
    """
    cutoff = check_cutoff(cutoff)
    names = tuple(labels)
    if not names:
        raise GraphSettingsError("labels must be a non-empty list of label names")
    frames = read_frames(path, index)
    kept: list[tuple[int, Atoms, list[float]]] = []
    skipped: list[int] = []
    for k, atoms in enumerate(frames, 1):
        row_id = int(atoms.info.get("row_id", k))
        try:
            values = [frame_label(atoms, name) for name in names]
        except DatabaseError as exc:
            raise DatabaseError(f"{path} frame {k}: {exc}") from None
        if all(math.isfinite(v) for v in values):
            kept.append((row_id, atoms, values))
        else:
            skipped.append(row_id)
    if skipped and missing == "error":
        raise DatabaseError(
            f"{path}: {len(skipped)} frame(s) lack a finite {'/'.join(names)}: {id_list(skipped)}"
        )
    if skipped:
        logger.warning("%s: skipping %d frames without %s", path, len(skipped), "/".join(names))
    if not kept:
        raise DatabaseError(f"{path}: no frame has finite values of {'/'.join(names)}")
    graphs = []
    for row_id, atoms, values in kept:
        try:
            graph = build_graph(atoms, cutoff, labels=values)
        except ThermognnError as exc:
            raise type(exc)(f"{path} frame {row_id}: {exc}") from exc
        graph.row_id = torch.tensor([row_id], dtype=torch.int64)
        graph.parent_id = torch.tensor([_parent(atoms)], dtype=torch.int64)
        graphs.append(graph)
    return _dataset(graphs, kept, names, skipped, cutoff)


def _parent(atoms: Atoms) -> int:
    parent = atoms.info.get("parent_id")
    return NO_PARENT if parent is None else int(parent)


def _dataset(
    graphs: list[Data],
    kept: list[tuple[int, Atoms, list[float]]],
    names: tuple[str, ...],
    skipped: list[int],
    cutoff: float,
) -> GraphDataset:
    return GraphDataset(
        graphs,
        labels=names,
        row_ids=[row_id for row_id, _, _ in kept],
        parent_ids=[_parent(atoms) for _, atoms, _ in kept],
        schemes=[str(atoms.info.get("scheme", "")) for _, atoms, _ in kept],
        materials=[str(atoms.info.get("material", "")) for _, atoms, _ in kept],
        skipped=skipped,
        cutoff=cutoff,
    )
