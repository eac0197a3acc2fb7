"""Benchmark: crystal-graph construction on 40-atom Ag3SBr cells.

Times :func:`thermognn.graphs.build_graph` (vesin neighbour list + features + PyG Data)
on seeded, randomly distorted 2x2x2 Ag3SBr cells against

(i)  a naive periodic Python loop over the 27 neighbouring images (the approach of the
     paper's released scripts, written here with the correct central image), and
(ii) pymatgen's ``Structure.get_all_neighbors`` when pymatgen is installed.

Run with ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_graphs.py``.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Sequence

import numpy as np
from ase import Atoms

from thermognn.graphs import build_graph, neighbour_list
from thermognn.structures import reference_cell


def distorted_cells(n: int, seed: int, sigma: float = 0.15) -> list[Atoms]:
    """``n`` 40-atom Ag3SBr cells with seeded Gaussian displacements (σ in Å)."""
    rng = np.random.default_rng(seed)
    base = reference_cell("Ag3SBr", (2, 2, 2))
    cells = []
    for _ in range(n):
        atoms = base.copy()
        atoms.positions += rng.normal(0.0, sigma, atoms.positions.shape)
        cells.append(atoms)
    return cells


def naive_edges(atoms: Atoms, cutoff: float) -> list[tuple[int, int, float]]:
    """Periodic neighbour pairs by a Python loop over atoms × atoms × 27 images.

    Correct only when no neighbour lies beyond the first shell of images (true for the
    9.6 Å cubic cell at 5.5 Å); kept deliberately simple, as in the paper's scripts.
    """
    positions, cell = atoms.positions, atoms.cell.array
    shifts = [np.array(s) for s in itertools.product((-1, 0, 1), repeat=3)]
    edges = []
    for i in range(len(atoms)):
        for j in range(len(atoms)):
            for shift in shifts:
                if i == j and not shift.any():
                    continue
                distance = float(np.linalg.norm(positions[j] + shift @ cell - positions[i]))
                if distance <= cutoff:
                    edges.append((j, i, distance))
    return edges


def per_call_us(function: Callable[[Atoms], object], cells: Sequence[Atoms], repeat: int) -> float:
    """Best-of-``repeat`` mean time per cell (µs)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for atoms in cells:
            function(atoms)
        best = min(best, (time.perf_counter() - start) / len(cells))
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200, help="number of cells (200)")
    parser.add_argument("--naive-cells", type=int, default=10, help="cells for the naive loop")
    parser.add_argument("--cutoff", type=float, default=5.5, help="cutoff in Å (5.5)")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats, best kept")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cells = distorted_cells(args.cells, args.seed)
    build_graph(cells[0], args.cutoff)  # warm up: element table, imports

    graph_us = per_call_us(lambda a: build_graph(a, args.cutoff), cells, args.repeat)
    nl_us = per_call_us(lambda a: neighbour_list(a, args.cutoff), cells, args.repeat)
    n_edges = np.mean([build_graph(a, args.cutoff).num_edges for a in cells[:20]])
    print(f"{args.cells} distorted 40-atom Ag3SBr cells, cutoff {args.cutoff} Å")
    print(f"  mean edges per graph            {n_edges:10.1f}")
    print(f"  build_graph (vesin, full Data)  {graph_us:10.1f} µs/graph")
    print(f"  neighbour_list only (vesin)     {nl_us:10.1f} µs/graph")

    naive_cells = cells[: args.naive_cells]
    naive_us = per_call_us(lambda a: naive_edges(a, args.cutoff), naive_cells, 1)
    for atoms in naive_cells[:3]:
        assert len(naive_edges(atoms, args.cutoff)) == build_graph(atoms, args.cutoff).num_edges
    print(f"  naive 27-image Python loop      {naive_us:10.1f} µs/graph ({len(naive_cells)} cells)")
    print(f"  speed-up build_graph vs naive   {naive_us / graph_us:10.1f} x  (target ≥ 100 x)")

    try:
        from pymatgen.io.ase import AseAtomsAdaptor
    except ImportError:
        print("  pymatgen not installed: skipping the Structure.get_all_neighbors comparison")
        return
    structures = [AseAtomsAdaptor.get_structure(a) for a in cells]
    convert_us = per_call_us(AseAtomsAdaptor.get_structure, cells, args.repeat)
    pmg_all_us = per_call_us(
        lambda s: s.get_all_neighbors(args.cutoff),
        structures,  # type: ignore[arg-type]
        args.repeat,
    )
    pmg_arrays_us = per_call_us(
        lambda s: s.get_neighbor_list(args.cutoff),
        structures,  # type: ignore[arg-type]
        args.repeat,
    )
    rows = [
        ("pymatgen get_all_neighbors", pmg_all_us),
        ("pymatgen get_neighbor_list (arrays)", pmg_arrays_us),
    ]
    print(
        f"  ASE Atoms -> pymatgen Structure {convert_us:10.1f} µs/cell (not in the figures below)"
    )
    for name, value in rows:
        print(
            f"  {name:<36} {value:10.1f} µs/graph; / build_graph {value / graph_us:6.2f}, "
            f"/ neighbour_list {value / nl_us:6.2f}"
        )


if __name__ == "__main__":
    main()
