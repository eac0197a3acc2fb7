"""Seeded train/validation/test splits, by parent structure where parents differ.

Configurations displaced from the same reference structure (same ``parent_id``) are
correlated. :func:`split_dataset` therefore chooses its strategy from the number of
distinct parents (``strategy="auto"``):

* one parent (the paper's case: every configuration derives from one supercell):
  a plain random split;
* ``MIN_GROUPS`` or more parents, none holding more than ``MAX_GROUP_SHARE`` of the
  rows: a group split — every parent's configurations go to the same split, parents
  dealt to the splits until each reaches its share of rows;
* otherwise (few parents, or one dominant parent such as the single Ag3SBr supercell
  beside many solid-solution occupations): dealing parents out would leave a split
  empty or a material unseen in training, so each parent's configurations are split
  70/15/15 on their own (stratified).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError

#: Split names, in order.
SPLITS: tuple[str, ...] = ("train", "val", "test")

#: Fewest distinct parents for a group split under ``strategy="auto"``.
MIN_GROUPS = 10

#: Largest share of the rows one parent may hold for ``auto`` to pick a group split.
MAX_GROUP_SHARE = 0.1


@dataclass
class Split:
    """Positions (into a dataset) of the train, validation and test graphs.

    Attributes
    ----------
    indices
        ``{"train": array, "val": array, "test": array}`` of dataset positions.
    strategy
        ``random``, ``group``, ``stratified`` or ``given``.
    seed
        Seed of the shuffle (``None`` for given indices).
    fractions
        Target fractions of (train, val, test).
    """

    indices: dict[str, np.ndarray]
    strategy: str
    seed: int | None
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    sizes: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.sizes = {name: len(self.indices[name]) for name in SPLITS}

    def summary(self) -> dict[str, Any]:
        """Strategy, seed, fractions and sizes (JSON-ready)."""
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "fractions": list(self.fractions),
            "sizes": self.sizes,
        }

    def to_dict(self, row_ids: np.ndarray) -> dict[str, Any]:
        """JSON-ready form with dataset positions and database row ids of each split."""
        out = self.summary()
        for name in SPLITS:
            out[name] = {
                "index": self.indices[name].tolist(),
                "row_id": row_ids[self.indices[name]].tolist(),
            }
        return out


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1.0) > 1e-6 or values[0] <= 0:
        raise ThermognnError(
            f"split fractions must be three numbers ≥ 0 summing to 1, got {fractions}"
        )
    return values  # type: ignore[return-value]


def _cut(order: np.ndarray, fractions: tuple[float, float, float]) -> list[np.ndarray]:
    """Cut an ordered index array into three parts of the given fractions."""
    n = len(order)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    if fractions[1] > 0 and n_val == 0 and n - n_train >= 2:
        n_val = 1
    n_val = min(n_val, n - n_train)
    return [order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]]


def split_dataset(
    n: int,
    *,
    seed: int,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    groups: Sequence[int] | np.ndarray | None = None,
    strategy: str = "auto",
) -> Split:
    """Split ``n`` items into train/val/test, seeded.

    Parameters
    ----------
    n
        Number of items (graphs).
    seed
        Seed of ``numpy.random.default_rng``.
    fractions
        Fractions of (train, val, test), summing to 1.
    groups
        Parent id of each item (``parent_id`` of the database rows).
    strategy
        ``auto`` (see the module docstring), ``random``, ``group`` or ``stratified``.

    Returns
    -------
    Split
        Sorted positions per split.
    """
    fracs = _check_fractions(fractions)
    if n < 3:
        raise ThermognnError(f"need at least 3 structures to split, got {n}")
    rng = np.random.default_rng(seed)
    group_ids = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups)
    unique = np.unique(group_ids)
    if strategy == "auto":
        _, sizes = np.unique(group_ids, return_counts=True)
        groupable = len(unique) >= MIN_GROUPS and sizes.max() <= MAX_GROUP_SHARE * n
        strategy = "random" if len(unique) == 1 else "group" if groupable else "stratified"
    if strategy == "random":
        parts = _cut(rng.permutation(n), fracs)
    elif strategy == "group":
        parts = _group_parts(group_ids, unique, fracs, rng)
    elif strategy == "stratified":
        pieces = [_cut(rng.permutation(np.flatnonzero(group_ids == g)), fracs) for g in unique]
        parts = [np.concatenate([p[k] for p in pieces]) for k in range(3)]
    else:
        raise ThermognnError(f"unknown split strategy {strategy!r}")
    indices = {
        name: np.sort(part).astype(np.int64) for name, part in zip(SPLITS, parts, strict=True)
    }
    if len(indices["train"]) == 0:
        raise ThermognnError("the training split is empty")
    return Split(indices, strategy, seed, fracs)


def _group_parts(
    group_ids: np.ndarray,
    unique: np.ndarray,
    fractions: tuple[float, float, float],
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Deal whole groups, in seeded random order, to the split furthest below its share."""
    n = len(group_ids)
    target = np.array(fractions) * n
    filled = np.zeros(3)
    members: list[list[np.ndarray]] = [[], [], []]
    for g in rng.permutation(unique):
        rows = np.flatnonzero(group_ids == g)
        k = int(np.argmax(target - filled))
        members[k].append(rows)
        filled[k] += len(rows)
    return [np.concatenate(m) if m else np.zeros(0, dtype=np.int64) for m in members]


def given_split(indices: Mapping[str, Sequence[int]], n: int) -> Split:
    """Wrap explicit split positions, checking they are valid and disjoint."""
    try:
        arrays = {name: np.asarray(indices[name], dtype=np.int64).reshape(-1) for name in SPLITS}
    except KeyError as exc:
        raise ThermognnError(f"split_indices lacks the {exc} split") from None
    allpos = np.concatenate(list(arrays.values()))
    if len(allpos) and (allpos.min() < 0 or allpos.max() >= n):
        raise ThermognnError(f"split_indices must be positions 0…{n - 1} of the dataset")
    if len(np.unique(allpos)) != len(allpos):
        raise ThermognnError("split_indices overlap: a structure is in two splits")
    if len(arrays["train"]) == 0:
        raise ThermognnError("the training split is empty")
    return Split({k: np.sort(v) for k, v in arrays.items()}, "given", None)


def dataset_split(
    dataset: Any,
    indices: Mapping[str, Sequence[int]] | None,
    seed: int,
    fractions: Sequence[float],
) -> Split:
    """``indices`` when given (:func:`given_split`), else a seeded, parent-grouped split.

    Parameters
    ----------
    dataset
        A graph dataset (its length and ``parent_ids``).
    indices
        Explicit ``{"train", "val", "test"}`` positions, or ``None``.
    seed, fractions
        Seed and (train, val, test) fractions of :func:`split_dataset`.
    """
    if indices is not None:
        return given_split(indices, len(dataset))
    return split_dataset(len(dataset), seed=seed, fractions=fractions, groups=dataset.parent_ids)
