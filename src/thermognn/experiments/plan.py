"""The plan of an experiment: reserved test sets, training pools, paired subsamples.

Test sets are reserved first, by row id, from the labeled rows of the study database,
in the order they are declared; every training pool is its selection minus every
reserved row, so no trained model ever sees a row of any test set. MD snapshots move
in contiguous trajectory blocks (``md_block`` consecutive snapshots of one run), never
snapshot by snapshot, so correlated neighbours cannot sit on both sides of a split;
every other row is its own block.

Seeds are paired: seed k permutes the blocks of every pool with the same generator,
so arms whose pools have the same number of blocks draw the same subsample positions,
and the training set of a size contains those of the smaller sizes (nested curves).
The validation set is taken from the other end of the same permutation.
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError
from thermognn.settings import ExperimentSpec, Selection

logger = logging.getLogger(__name__)


def seeded_rng(seed: int, *tags: str | int) -> np.random.Generator:
    """A generator seeded by ``seed`` and tags (independent of declaration order)."""
    words = [int(seed)] + [t if isinstance(t, int) else zlib.crc32(t.encode()) for t in tags]
    return np.random.default_rng(np.random.SeedSequence(words))


@dataclass(frozen=True)
class RowRecord:
    """What the plan needs of one labeled row.

    Attributes
    ----------
    row_id
        Database row id.
    material, scheme, sample_set
        The row's sampling record (``sample_set`` defaults to the scheme).
    block
        Trajectory block key: rows of one block always travel together.
    """

    row_id: int
    material: str
    scheme: str
    sample_set: str
    block: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.row_id, **vars(self)}


def row_record(row_id: int, kv: Mapping[str, Any], md_block: int) -> RowRecord:
    """A :class:`RowRecord` from a row's key-value pairs."""
    scheme = str(kv.get("scheme", ""))
    block = f"row:{row_id}"
    if scheme == "md" and "config_index" in kv:
        index = int(kv["config_index"])
        block = f"md:{kv.get('batch', '')}:{kv.get('temperature', '')}:{index // md_block}"
    return RowRecord(
        int(row_id),
        str(kv.get("material", "")),
        scheme,
        str(kv.get("sample_set", scheme)),
        block,
    )


def read_rows(db: Any, labels: Sequence[str], md_block: int = 10) -> list[RowRecord]:
    """Labeled rows of ``db`` with a finite value of every label, in row-id order."""
    from thermognn.database.guard import open_database, select

    database = open_database(str(db) if isinstance(db, bytes) else db)
    out = []
    for row in select(database, "labeled=1", columns=["id", "key_value_pairs"]):
        kv = row.key_value_pairs
        values = [kv.get(name) for name in labels]
        if any(not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
            continue
        if kv.get("scheme") == "reference":
            continue
        out.append(row_record(row.id, kv, md_block))
    return sorted(out, key=lambda r: r.row_id)


def _blocks(rows: Iterable[RowRecord]) -> list[list[int]]:
    """Row ids grouped by block, blocks in order of their first row id."""
    groups: dict[str, list[int]] = {}
    for r in sorted(rows, key=lambda r: r.row_id):
        groups.setdefault(r.block, []).append(r.row_id)
    return list(groups.values())


def _take(blocks: Sequence[Sequence[int]], n: int) -> tuple[list[int], list[int]]:
    """The first ``n`` rows of whole blocks in order, and the rest of the cut block."""
    taken: list[int] = []
    rest: list[int] = []
    for block in blocks:
        if len(taken) >= n:
            break
        room = n - len(taken)
        taken += list(block[:room])
        rest += list(block[room:])
    return taken, rest


@dataclass
class ExperimentPlan:
    """Reserved test sets and training pools of an experiment.

    Attributes
    ----------
    test_sets
        Row ids of each named test set.
    pools
        Row ids of each arm's training pool (disjoint from every test set).
    set_aside
        Rows of a trajectory block cut by a test set's size: in no test set and in no
        pool, so no block is ever split between testing and training.
    blocks
        Block key of every planned row (for block-wise subsamples).
    seed
        Base seed.
    val_fraction
        Validation structures per training structure.
    """

    test_sets: dict[str, list[int]]
    pools: dict[str, list[int]]
    set_aside: list[int] = field(default_factory=list)
    blocks: dict[int, str] = field(default_factory=dict)
    seed: int = 0
    val_fraction: float = 0.15
    arm_specs: dict[str, Any] = field(default_factory=dict)

    def n_val(self, size: int) -> int:
        """Validation structures that go with ``size`` training structures."""
        return max(1, int(round(self.val_fraction * size)))

    def _pool_blocks(self, arm: str) -> list[list[int]]:
        return _blocks(
            RowRecord(r, "", "", "", self.blocks.get(r, f"row:{r}")) for r in self.pools[arm]
        )

    def max_size(self, arm: str) -> int:
        """Largest training size whose validation set fits in the arm's pool for any seed.

        A trajectory block cut by the validation set leaves the rest of that block
        unused, so pools of MD blocks lose up to one block less one row.
        """
        n = len(self.pools[arm])
        slack = max((len(b) for b in self._pool_blocks(arm)), default=1) - 1
        size = n
        while size > 0 and size + self.n_val(size) + slack > n:
            size -= 1
        return size

    def sizes(self, arm: str, wanted: Sequence[int] | None, on_short: str = "clip") -> list[int]:
        """The training sizes of an arm: ``wanted`` checked (or clipped) against its pool."""
        largest = self.max_size(arm)
        if largest < 1:
            raise ThermognnError(
                f"arm {arm!r}: its pool holds {len(self.pools[arm])} rows after the test sets "
                "were reserved, too few to train"
            )
        if not wanted:
            return [largest]
        short = [s for s in wanted if s > largest]
        if short and on_short == "error":
            raise ThermognnError(
                f"arm {arm!r}: size {max(short)} needs {max(short)} + {self.n_val(max(short))} "
                f"(training + validation) rows; its pool holds {len(self.pools[arm])} "
                f"(largest size that fits: {largest})"
            )
        if short:
            logger.warning("arm %s: sizes %s clipped to %d", arm, short, largest)
        return sorted({min(int(s), largest) for s in wanted})

    def selection(self, arm: str, size: int, seed: int) -> dict[str, list[int]]:
        """Train/val/test row ids of one model (paired and nested across sizes).

        The permutation of the pool's blocks depends on the base seed and ``seed``
        only, not on the arm: arms with equally many blocks use the same positions.
        """
        blocks = self._pool_blocks(arm)
        order = seeded_rng(self.seed, "subsample", seed).permutation(len(blocks))
        ordered = [blocks[i] for i in order]
        n_val = self.n_val(size)
        val: list[int] = []
        used = 0
        for block in ordered[::-1]:  # validation from the far end, whole blocks only
            if len(val) >= n_val:
                break
            val += block[: n_val - len(val)]
            used += 1
        train, _ = _take(ordered[: len(ordered) - used], size)
        if len(train) < size:
            raise ThermognnError(
                f"arm {arm!r}: size {size} + {n_val} validation do not fit in its pool of "
                f"{len(self.pools[arm])} rows (largest size: {self.max_size(arm)})"
            )
        return {"train": sorted(train), "val": sorted(val), "test": self.test_ids()}

    def test_ids(self) -> list[int]:
        """Every reserved row id (the test split of every model)."""
        return sorted({r for ids in self.test_sets.values() for r in ids})

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready; ``blocks`` only of the rows that share a block."""
        data = asdict(self)
        data["blocks"] = {str(k): v for k, v in self.blocks.items() if not v.startswith("row:")}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentPlan:
        return cls(
            {k: [int(r) for r in v] for k, v in data["test_sets"].items()},
            {k: [int(r) for r in v] for k, v in data["pools"].items()},
            [int(r) for r in data.get("set_aside", [])],
            {int(k): str(v) for k, v in data.get("blocks", {}).items()},
            int(data["seed"]),
            float(data["val_fraction"]),
            dict(data.get("arm_specs", {})),
        )


def _selected(rows: Sequence[RowRecord], select: Selection) -> list[RowRecord]:
    return [r for r in rows if select.matches(r.as_dict())]


def make_plan(
    rows: Sequence[RowRecord], spec: ExperimentSpec, query_ids: Mapping[str, set[int]] | None = None
) -> ExperimentPlan:
    """Reserve the test sets, then form the pools.

    Parameters
    ----------
    rows
        Labeled rows (:func:`read_rows`).
    spec
        The experiment.
    query_ids
        For selections with an ASE ``query``: the row ids that query matches, keyed by
        the query string (the runner evaluates them on the database).
    """
    spec.check_names()
    query_ids = query_ids or {}

    def chosen(select: Selection, exclude: set[int]) -> list[RowRecord]:
        picked = _selected(rows, select)
        if select.query:
            allowed = query_ids[select.query]
            picked = [r for r in picked if r.row_id in allowed]
        return [r for r in picked if r.row_id not in exclude]

    reserved: set[int] = set()
    set_aside: list[int] = []
    test_sets: dict[str, list[int]] = {}
    for ts in spec.test_sets:
        if ts.union:
            test_sets[ts.name] = sorted({r for n in ts.union for r in test_sets[n]})
            continue
        candidates = chosen(ts.select, reserved | set(set_aside))
        if not candidates:
            raise ThermognnError(f"test set {ts.name!r}: no labeled rows match its selection")
        blocks = _blocks(candidates)
        order = seeded_rng(spec.seed, "reserve", ts.name).permutation(len(blocks))
        size = ts.size if ts.size is not None else len(candidates)
        if ts.fraction is not None:
            size = max(1, int(round(ts.fraction * len(candidates))))
        if size >= len(candidates) and (ts.size is not None or ts.fraction is not None):
            raise ThermognnError(
                f"test set {ts.name!r}: {len(candidates)} matching rows, too few to reserve "
                f"{size} and still train"
            )
        taken, rest = _take([blocks[i] for i in order], size)
        test_sets[ts.name] = sorted(taken)
        reserved |= set(taken)
        set_aside += rest
    plan = ExperimentPlan(test_sets, {}, sorted(set_aside), {}, spec.seed, spec.val_fraction)
    add_pools(plan, rows, spec, query_ids)
    plan.blocks = {r.row_id: r.block for r in rows if not r.block.startswith("row:")}
    return plan


def add_pools(
    plan: ExperimentPlan,
    rows: Sequence[RowRecord],
    spec: ExperimentSpec,
    query_ids: Mapping[str, set[int]] | None = None,
) -> list[str]:
    """Form the pools of the arms the plan does not hold yet; returns their names.

    An arm already in the plan must be declared as it was (its pool is fixed by then).
    """
    query_ids = query_ids or {}
    excluded = set(plan.test_ids()) | set(plan.set_aside)
    added = []
    for arm in [*[a for a in spec.arms if not a.union], *[a for a in spec.arms if a.union]]:
        declared = json.loads(json.dumps(arm.model_dump(), default=str))
        if arm.name in plan.pools:
            stored = plan.arm_specs.get(arm.name)
            if stored is not None and stored != declared:
                raise ThermognnError(
                    f"arm {arm.name!r} is declared differently from when its pool was formed "
                    f"({stored} then, {declared} now); use another name or folder"
                )
            continue
        if arm.union:
            pool = sorted({r for n in arm.union for r in plan.pools[n]})
        else:
            picked = _selected(rows, arm.select)
            if arm.select.query:
                allowed = query_ids[arm.select.query]
                picked = [r for r in picked if r.row_id in allowed]
            pool = sorted(r.row_id for r in picked if r.row_id not in excluded)
        if not pool:
            raise ThermognnError(f"arm {arm.name!r}: no labeled rows left in its pool")
        plan.pools[arm.name] = pool
        plan.arm_specs[arm.name] = declared
        added.append(arm.name)
    return added
