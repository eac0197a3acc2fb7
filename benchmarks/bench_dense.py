"""Benchmark: dense vs sparse (PyG) training throughput of the paper model.

One training step (forward + backward + Adam step) of ``paper-1`` (3 GraphConv, max
pool) on batches of 128 distorted 40-atom Ag3SBr cells (2x2x2, a = 4.793 Å, 5.5 Å
cutoff), on one thread, at hidden 32 and 256. The sparse path is PyG's ``GraphConv``
on a collated ``Batch``; the dense path is :meth:`PaperGNN.forward_dense` on
precomputed dense adjacency matrices (:class:`DenseGraphStore`). Same weights, same
batch; the two are timed alternately and the median of the rounds is reported.

Rates are per CPU second of this process (``time.process_time``), so a machine shared
with other jobs does not distort them.

Run with ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dense.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import cast

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from thermognn.graphs import build_graph
from thermognn.models import DenseGraphStore, get_model
from thermognn.models.paper import PaperGNN
from thermognn.structures import reference_cell
from thermognn.training.loop import make_optimizer


def study_graphs(n: int, seed: int = 0, sigma: float = 0.15) -> list[Data]:
    """``n`` scaled graphs of distorted 40-atom Ag3SBr cells (edge weight = d / cutoff)."""
    rng = np.random.default_rng(seed)
    base = reference_cell("Ag3SBr", (2, 2, 2))
    graphs = []
    for _ in range(n):
        atoms = base.copy()
        atoms.positions += rng.normal(0.0, sigma, atoms.positions.shape)
        g = build_graph(atoms, 5.5)
        graphs.append(
            Data(
                x=g.x / g.x.amax(0),
                edge_index=g.edge_index,
                edge_weight=g.edge_attr / 5.5,
                num_nodes=g.num_nodes,
            )
        )
    return graphs


def step_functions(hidden: int, graphs: list[Data]) -> dict[str, Callable[[], None]]:
    """One training step on the sparse and on the dense path (shared model)."""
    torch.manual_seed(0)
    model = cast(PaperGNN, get_model("paper-1", hidden=hidden)).train()
    optimizer = make_optimizer(model.parameters(), lr=1e-4)
    target = torch.rand(len(graphs), 1)
    sparse = Batch.from_data_list(graphs)
    store = DenseGraphStore(graphs)
    index = torch.arange(len(graphs))

    def step(forward: Callable[[], torch.Tensor]) -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(forward(), target).backward()
        optimizer.step()

    return {
        "sparse": lambda: step(
            lambda: model(sparse.x, sparse.edge_index, sparse.edge_weight, sparse.batch)
        ),
        "dense": lambda: step(lambda: model.forward_dense(store.batch(index))),
    }


def throughput(step: Callable[[], None], batch: int, seconds: float) -> float:
    """Graphs per second of repeated steps over about ``seconds``."""
    step()
    count, start = 0, time.process_time()
    while time.process_time() - start < seconds or count < 2:
        step()
        count += 1
    return batch * count / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per timing")
    args = parser.parse_args()
    torch.set_num_threads(1)
    graphs = study_graphs(args.batch)
    edges = statistics.mean(g.num_edges for g in graphs)
    print(f"paper-1, batch {args.batch} × 40 atoms, {edges:.0f} edges/graph, 1 thread")
    for hidden in (32, 256):
        steps = step_functions(hidden, graphs)
        rates: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(args.rounds):
            for name, step in steps.items():
                rates[name].append(throughput(step, args.batch, args.seconds))
        sparse, dense = (statistics.median(rates[k]) for k in ("sparse", "dense"))
        print(
            f"hidden {hidden:>3}: sparse {sparse:8.0f} graphs/s   dense {dense:8.0f} graphs/s"
            f"   ratio {dense / sparse:5.1f}x"
        )


if __name__ == "__main__":
    main()
