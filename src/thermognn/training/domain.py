"""The training domain of a run, and a cheap check of whether a structure lies in it.

A trained run records (``model.json`` → ``domain``) what it was trained on: the
elements, the cell sizes (atoms per cell), the range of each label over the training
split and a fixed descriptor of every training structure with the spread of the
descriptors' nearest-neighbour distances. :func:`domain_flags` then says, per
structure, why a prediction lies outside that domain:

* an element the model never saw;
* a cell size it was not trained on (labels are comparable only between cells of the
  same size, DESIGN.md §5);
* a descriptor farther from every training structure than ``threshold``;
* a prediction outside the training range of its label (by more than 10 % of it).

The descriptor (Å) of a structure is, for each training element *e* (sorted): the
fraction of atoms that are *e* (× 1 Å) and the mean nearest-neighbour distance of the
atoms of *e* (Å, periodic images included; 0 when absent). The threshold is three
times the 95th percentile of the training structures' leave-one-out nearest
distances, and at least 0.02 Å.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

#: Training descriptors kept in the record (evenly spaced when there are more).
MAX_DESCRIPTORS = 2000
#: Smallest distance-to-training threshold (Å).
MIN_THRESHOLD = 0.02
#: Predictions may leave the training range by this fraction of its width.
RANGE_MARGIN = 0.1


@dataclass
class TrainingDomain:
    """What a run was trained on (see the module docstring).

    Attributes
    ----------
    elements
        Element symbols of the training structures, sorted.
    n_atoms
        Cell sizes (atoms per cell) of the training structures.
    label_ranges
        ``label → [min, max]`` over the training split (label units).
    descriptors
        Descriptor of each training structure (Å), ``[n, 2 × len(elements)]``.
    threshold
        Largest distance (Å) to the nearest training descriptor still in the domain.
    """

    elements: list[str]
    n_atoms: list[int]
    label_ranges: dict[str, list[float]]
    descriptors: list[list[float]] = field(default_factory=list)
    threshold: float = MIN_THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (descriptors rounded to 0.1 mÅ)."""
        out = asdict(self)
        out["descriptors"] = [[round(v, 4) for v in row] for row in self.descriptors]
        return out

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> TrainingDomain | None:
        """The domain of a record, or ``None`` for runs trained before domains existed."""
        if not record or "elements" not in record:
            return None
        return cls(
            elements=[str(e) for e in record["elements"]],
            n_atoms=[int(n) for n in record.get("n_atoms", [])],
            label_ranges={
                k: [float(a), float(b)] for k, (a, b) in record.get("label_ranges", {}).items()
            },
            descriptors=[[float(v) for v in row] for row in record.get("descriptors", [])],
            threshold=float(record.get("threshold", MIN_THRESHOLD)),
        )

    @classmethod
    def fit(
        cls, graphs: Sequence[Any], targets: np.ndarray, labels: Sequence[str], cutoff: float
    ) -> TrainingDomain:
        """The domain of training graphs (``build_graph`` layout) and their targets.

        Parameters
        ----------
        graphs
            Training graphs with ``z``, ``edge_index`` and ``edge_attr`` (Å).
        targets
            Training targets ``[n, len(labels)]`` in the labels' units.
        labels
            Label names, the columns of ``targets``.
        cutoff
            Graph cutoff (Å), the nearest-neighbour distance of an atom without neighbours.
        """
        numbers = [_graph_numbers(g) for g in graphs]
        elements = sorted({chemical_symbols[int(z)] for zs in numbers for z in zs})
        nn = [_graph_nn_distances(g, cutoff) for g in graphs]
        desc = np.array([descriptor(z, d, elements) for z, d in zip(numbers, nn, strict=True)])
        if len(desc) > MAX_DESCRIPTORS:
            desc = desc[np.linspace(0, len(desc) - 1, MAX_DESCRIPTORS).round().astype(int)]
        targets = np.asarray(targets, dtype=float).reshape(len(graphs), -1)
        ranges = {
            name: [float(np.nanmin(targets[:, k])), float(np.nanmax(targets[:, k]))]
            for k, name in enumerate(labels)
        }
        return cls(
            elements=elements,
            n_atoms=sorted({len(z) for z in numbers}),
            label_ranges=ranges,
            descriptors=desc.tolist(),
            threshold=_threshold(desc),
        )

    def flags(
        self,
        structures: Sequence[Atoms],
        predictions: np.ndarray | None,
        labels: Sequence[str],
        cutoff: float,
    ) -> list[str]:
        """Why each structure lies outside the domain (``""`` when it lies inside).

        Parameters
        ----------
        structures
            The structures predicted.
        predictions
            Their predictions ``[n, len(labels)]`` (label units), or ``None``.
        labels
            Label names, the columns of ``predictions``.
        cutoff
            Graph cutoff (Å): nearest neighbours are looked for within it.
        """
        known = set(self.elements)
        train = np.asarray(self.descriptors, dtype=float)
        out = []
        for k, atoms in enumerate(structures):
            reasons = []
            new = sorted(set(atoms.get_chemical_symbols()) - known)
            if new:
                reasons.append(
                    f"element{'s' if len(new) > 1 else ''} {', '.join(new)} not in training"
                )
            if self.n_atoms and len(atoms) not in self.n_atoms:
                sizes = "/".join(str(n) for n in self.n_atoms)
                reasons.append(f"{len(atoms)} atoms per cell (trained on {sizes})")
            if train.size and not new:
                d = descriptor(atoms.numbers, atoms_nn_distances(atoms, cutoff), self.elements)
                nearest = float(np.sqrt(((train - d) ** 2).sum(axis=1)).min())
                if nearest > self.threshold:
                    reasons.append(
                        f"{nearest:.3f} Å from the nearest training structure "
                        f"(domain: ≤ {self.threshold:.3f} Å)"
                    )
            if predictions is not None:
                reasons += self._range_flags(np.asarray(predictions)[k], labels)
            out.append("; ".join(reasons))
        return out

    def _range_flags(self, values: np.ndarray, labels: Sequence[str]) -> list[str]:
        reasons = []
        for value, name in zip(values, labels, strict=False):
            if name not in self.label_ranges:
                continue
            lo, hi = self.label_ranges[name]
            margin = RANGE_MARGIN * (hi - lo)
            if not lo - margin <= value <= hi + margin:
                reasons.append(
                    f"{name} {value:.4g} outside the training range [{lo:.4g}, {hi:.4g}]"
                )
        return reasons


def descriptor(numbers: np.ndarray, nn: np.ndarray, elements: Sequence[str]) -> np.ndarray:
    """Per training element: atom fraction (× 1 Å) and mean nearest-neighbour distance (Å)."""
    symbols = np.array([chemical_symbols[int(z)] for z in numbers])
    out = np.zeros(2 * len(elements))
    for k, element in enumerate(elements):
        mask = symbols == element
        if mask.any():
            out[2 * k] = mask.mean()
            out[2 * k + 1] = float(nn[mask].mean())
    return out


def atoms_nn_distances(atoms: Atoms, cutoff: float) -> np.ndarray:
    """Nearest-neighbour distance of each atom (Å, images included; ``cutoff`` if none)."""
    from vesin import NeighborList

    i, d = NeighborList(cutoff=float(cutoff), full_list=True).compute(
        points=atoms.positions, box=atoms.cell.array, periodic=True, quantities="id"
    )
    nn = np.full(len(atoms), float(cutoff))
    np.minimum.at(nn, i.astype(int), d)
    return nn


def _graph_numbers(graph: Any) -> np.ndarray:
    """Atomic numbers of a graph's nodes (``z``, else the atomic-number feature column)."""
    z = getattr(graph, "z", None) if "z" in graph else None
    if z is None:
        z = graph.x[:, 0].round()
    return np.asarray(z.numpy(), dtype=np.int64)


def _graph_nn_distances(graph: Any, cutoff: float) -> np.ndarray:
    """Nearest-neighbour distance of each node of a crystal graph (Å; ``cutoff`` if none)."""
    d = graph.edge_attr.reshape(-1).double().numpy()
    source = graph.edge_index[0].numpy()
    nn = np.full(int(graph.num_nodes), cutoff)
    np.minimum.at(nn, source, d)
    return nn


def _threshold(desc: np.ndarray) -> float:
    """Three times the 95th percentile of leave-one-out nearest distances (≥ 0.02 Å)."""
    if len(desc) < 2:
        return MIN_THRESHOLD
    squares = (desc**2).sum(axis=1)
    dist2 = squares[:, None] + squares[None, :] - 2 * desc @ desc.T
    np.fill_diagonal(dist2, np.inf)
    nearest = np.sqrt(np.maximum(dist2.min(axis=1), 0.0))
    return max(3.0 * float(np.percentile(nearest, 95)), MIN_THRESHOLD)


def domain_flags(
    record: Any, structures: Sequence[Atoms], predictions: np.ndarray | None
) -> list[str] | None:
    """:meth:`TrainingDomain.flags` of a run record, or ``None`` when it has no domain."""
    domain = TrainingDomain.from_dict(getattr(record, "domain", None) or {})
    if domain is None:
        return None
    return domain.flags(structures, predictions, list(record.labels), float(record.cutoff))
