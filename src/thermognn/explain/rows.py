"""Which runs and which database rows to explain: never a model's training rows.

A model explained on rows it trained on says what it memorised, not what it learned.
:func:`select_rows` reads each run folder's ``split.json`` (database row ids of its
train/val/test splits) and takes the test rows every model shares, or checks explicit
row ids against every model's training split.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError

RunDirs = Sequence[str | Path] | Mapping[str, str | Path]


def model_names(run_dirs: RunDirs) -> dict[str, str]:
    """Short unique names for run folders: ``{name: path}``.

    A mapping is taken as given. Otherwise each run is named by its folder name, or, when
    two share one, by its path relative to the folders' common parent.
    """
    if isinstance(run_dirs, Mapping):
        return {str(k): str(v) for k, v in run_dirs.items()}
    paths = [str(p) for p in run_dirs]
    if len(set(paths)) != len(paths):
        raise ThermognnError(f"a run folder is listed twice: {paths}")
    names = [Path(p).name for p in paths]
    if len(set(names)) != len(names):
        root = os.path.commonpath([os.path.abspath(p) for p in paths])
        names = [os.path.relpath(os.path.abspath(p), root) for p in paths]
    return dict(zip(names, paths, strict=True))


def check_runs(run_dirs: Sequence[str | Path], label: str | None = None) -> None:
    """Fail early, before any explaining, on a folder without a run record or ``label``."""
    from thermognn.errors import CheckpointError
    from thermognn.training.checkpoint import read_record

    for run in run_dirs:
        labels = list(read_record(Path(run)).labels)
        if label is not None and label not in labels:
            raise CheckpointError(f"{run}: predicts {labels}, not {label!r}")


def read_split(run_dir: str | Path) -> dict[str, list[int]]:
    """Database row ids of a run's train, val and test splits (its ``split.json``)."""
    path = Path(run_dir) / "split.json"
    if not path.is_file():
        raise ThermognnError(f"{path}: no split record; pass the row ids to explain explicitly")
    try:
        data = json.loads(path.read_text())
        return {name: [int(r) for r in data[name]["row_id"]] for name in ("train", "val", "test")}
    except (ValueError, KeyError, TypeError):
        raise ThermognnError(
            f"{path}: malformed split record (needs train/val/test with row_id lists)"
        ) from None


def select_rows(
    run_dirs: Sequence[str | Path],
    row_ids: Sequence[int] | None = None,
    *,
    n_structures: int | None = None,
    allow_train_rows: bool = False,
    among: set[int] | None = None,
    seed: int = 0,
) -> list[int]:
    """Database rows to explain every model on, never a training row unless allowed.

    Parameters
    ----------
    run_dirs
        Run folders, each with a ``split.json``.
    row_ids
        Explicit rows, all used; each is checked against every model's training split
        (and ``split.json`` is not needed with ``allow_train_rows``). ``None``: the test
        rows every model shares.
    n_structures
        At most this many of the shared test rows, a seeded random subset (explicit
        ``row_ids`` are never subsampled).
    allow_train_rows
        Accept explicit rows that some model trained on.
    among
        Only rows in this set (e.g. the ids matching a database query).
    seed
        Seed of the subset.

    Returns
    -------
    list of int
        Sorted row ids (explicit ids keep their given order).
    """
    if row_ids is not None:
        rows = list(dict.fromkeys(int(r) for r in row_ids))
        if among is not None:
            rows = [r for r in rows if r in among]
        if not allow_train_rows:
            for run in run_dirs:
                trained = sorted(set(rows) & set(read_split(run)["train"]))
                if trained:
                    raise ThermognnError(
                        f"{Path(run) / 'split.json'}: rows {trained[:5]} are training rows "
                        "of this model; explain test rows or allow training rows explicitly"
                    )
    else:
        shared: set[int] | None = None
        for run in run_dirs:
            test = set(read_split(run)["test"])
            shared = test if shared is None else shared & test
        shared = shared or set()
        rows = sorted(shared if among is None else shared & among)
        if n_structures is not None and len(rows) > n_structures:
            rng = np.random.default_rng(seed)
            rows = sorted(int(r) for r in rng.choice(rows, size=n_structures, replace=False))
    if not rows:
        raise ThermognnError(
            f"no row to explain: the runs {[str(r) for r in run_dirs]} share no test row "
            "(matching the query); pass the row ids explicitly"
        )
    return rows


def query_ids(db: str | Path, query: str) -> set[int]:
    """Ids of the rows of a study database matching an ASE selection."""
    from thermognn.database import StudyDatabase

    return {int(r.id) for r in StudyDatabase(db, create=False).select(query)}


def load_rows(db: str | Path, row_ids: Sequence[int]) -> list[Any]:
    """ASE structures of the given rows of a study database, in that order."""
    from thermognn.database import StudyDatabase

    study = StudyDatabase(db, create=False)
    out = []
    for rid in row_ids:
        try:
            out.append(study.ase.get(id=int(rid)).toatoms())
        except KeyError:
            raise ThermognnError(f"{db}: no row with id {rid}") from None
    return out
