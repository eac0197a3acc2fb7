"""Benchmark: end-to-end prediction throughput for 40-atom cells (structure → labels).

Times :meth:`thermognn.training.Predictor.predict_atoms` — node features, dense
periodic adjacency straight from positions and cell, scaling, ``paper-1`` forward,
inverse target scaling — on distorted 40-atom Ag3SBr cells, one thread; and, for
comparison, the route through :func:`thermognn.graphs.build_graph` edge lists
(``predict_graphs``). The model is freshly initialised (weights do not change the
cost) with scalers fitted on a few graphs, as a run folder would hold them.

Rates are per CPU second of this process (``time.process_time``), so a machine shared
with other jobs does not distort them.

Run with ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_predict.py``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from ase import Atoms

from thermognn.graphs import NODE_FEATURES, build_graph
from thermognn.models import get_model, model_spec
from thermognn.structures import reference_cell
from thermognn.training import Predictor, RunRecord, Scalers


def distorted_cells(n: int, seed: int = 0, sigma: float = 0.15) -> list[Atoms]:
    """``n`` 40-atom Ag3SBr cells with seeded Gaussian displacements (σ in Å)."""
    rng = np.random.default_rng(seed)
    base = reference_cell("Ag3SBr", (2, 2, 2))
    cells = []
    for _ in range(n):
        atoms = base.copy()
        atoms.positions += rng.normal(0.0, sigma, atoms.positions.shape)
        cells.append(atoms)
    return cells


def predictor(model_name: str, hidden: int, cells: list[Atoms]) -> Predictor:
    """A predictor as loaded from a run folder (scalers fitted on a few graphs)."""
    spec = model_spec(model_name)
    hparams = spec.resolve(hidden=hidden, in_channels=len(NODE_FEATURES), n_targets=1)
    graphs = [build_graph(a, 5.5) for a in cells[:16]]
    kinds = (spec.scaling.node, spec.scaling.edge, spec.scaling.target)
    scalers = Scalers.fit(graphs, np.linspace(1.0, 1.4, len(graphs)).reshape(-1, 1), kinds, 5.5)
    record = RunRecord(
        model_name,
        spec.family,
        hparams,
        ["band_gap"],
        {"band_gap": "eV"},
        list(NODE_FEATURES),
        5.5,
        scalers,
    )
    torch.manual_seed(0)
    return Predictor(get_model(model_name, **hparams), record)


def rate(function: object, cells: list[Atoms], repeat: int) -> float:
    """Best-of-``repeat`` structures per second."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        function(cells)  # type: ignore[operator]
        best = min(best, time.process_time() - start)
    return len(cells) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048, help="structures")
    parser.add_argument("--model", default="paper-1", help="model name (e.g. moments)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cells = distorted_cells(args.n)
    p = predictor(args.model, args.hidden, cells)
    p.predict_atoms(cells[:64])
    fast = rate(p.predict_atoms, cells, args.repeat)
    few = cells[: max(args.n // 8, 64)]
    graph_route = rate(lambda cs: p.predict_graphs([build_graph(a, 5.5) for a in cs]), few, 1)
    print(f"{args.model} hidden {args.hidden}, {args.n} × 40-atom Ag3SBr cells, 1 thread")
    print(f"  position route (predict_atoms): {fast:8.0f} structures/s")
    print(f"  edge-list route (build_graph + predict_graphs): {graph_route:8.0f} structures/s")


if __name__ == "__main__":
    main()
