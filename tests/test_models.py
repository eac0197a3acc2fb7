"""Models: registry, shapes, permutation invariance, dense path == sparse path."""

from __future__ import annotations

from typing import cast

import numpy as np
import pytest
import torch
from ase import Atoms
from torch_geometric.data import Batch, Data

from thermognn.errors import ThermognnError
from thermognn.models import (
    MODEL_REGISTRY,
    DenseGraphStore,
    dense_from_batch,
    get_model,
    model_names,
    model_spec,
)
from thermognn.models.paper import PaperGNN
from thermognn.models.periodic import periodic_adjacency

SPECIES = torch.tensor([16.0, 35.0, 47.0, 53.0])


def random_graph(n: int, n_edges: int, seed: int, n_targets: int = 1) -> Data:
    """A graph with random features, self-loops and parallel edges.

    ``x[:, 0]`` is an atomic number (SchNet embeds it); ``edge_attr`` are distances in
    Å and ``edge_weight`` the same scaled to [0, 1].
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 4, generator=g) * 2.0
    x[:, 0] = SPECIES[torch.randint(0, 4, (n,), generator=g)]
    edges = torch.randint(0, n, (2, n_edges), generator=g)
    loops = torch.arange(min(n, 2)).repeat(2, 1)  # atoms bonded to their own images
    edge_index = torch.cat([edges, loops, edges[:, :3], loops], dim=1)  # parallel edges
    distance = 1.5 + 4.0 * torch.rand(edge_index.shape[1], generator=g)
    return Data(
        x=x,
        edge_index=edge_index,
        edge_attr=distance,
        edge_weight=(distance - 1.5) / 4.0,
        y=torch.rand(1, n_targets, generator=g),
        num_nodes=n,
    )


def mixed_batch(seed: int = 0) -> Batch:
    sizes = [(5, 14), (9, 30), (3, 6), (7, 20)]
    return Batch.from_data_list([random_graph(n, e, seed + k) for k, (n, e) in enumerate(sizes)])


def paper_model(name: str, **hparams: object) -> PaperGNN:
    """A paper-family model, typed as such."""
    return cast(PaperGNN, get_model(name, **hparams))


def sparse_out(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    return model(batch.x, batch.edge_index, batch.edge_weight, batch.batch)


def test_registry_maps_the_six_paper_architectures() -> None:
    expected = {
        "paper-1": (3, "max", "sigmoid"),
        "paper-2": (3, "mean", "sigmoid"),
        "paper-3": (3, "max", "relu"),
        "paper-4": (3, "mean", "relu"),
        "paper-5": (2, "max", "sigmoid"),
        "paper-6": (4, "max", "sigmoid"),
    }
    for name, (n_conv, pool, act) in expected.items():
        spec = model_spec(name)
        model = paper_model(name, hidden=8)
        assert spec.family == "paper" and spec.scaling.target == "minmax"
        assert (len(model.convs), model.pool, model.out_activation) == (n_conv, pool, act)
        assert len(model.norms) == n_conv
    assert {"schnet", "cgcnn"} <= set(model_names()) == set(MODEL_REGISTRY)


def test_registry_errors_are_clear() -> None:
    with pytest.raises(ThermognnError, match="unknown model 'nope'"):
        get_model("nope")
    with pytest.raises(ThermognnError, match="no hyperparameter n_rbf"):
        get_model("paper-1", n_rbf=3)
    with pytest.raises(ValueError, match="n_conv"):
        get_model("paper", n_conv=5)


def test_resolve_records_every_constructor_argument() -> None:
    resolved = model_spec("paper-3").resolve(hidden=32)
    assert resolved["hidden"] == 32 and resolved["out_activation"] == "relu"
    assert set(resolved) == model_spec("paper-3").hparam_names()


@pytest.mark.parametrize("name", ["paper-1", "paper-4", "schnet", "cgcnn"])
@pytest.mark.parametrize("n_targets", [1, 4])
def test_output_shapes(name: str, n_targets: int) -> None:
    torch.manual_seed(0)
    model = get_model(name, hidden=8, n_targets=n_targets)
    batch = mixed_batch()
    assert sparse_out(model, batch).shape == (4, n_targets)
    model.eval()
    single = random_graph(6, 12, 3)
    assert model(single.x, single.edge_index, single.edge_attr).shape == (1, n_targets)


@pytest.mark.parametrize("name", ["paper-1", "paper-2", "schnet", "cgcnn"])
def test_permutation_invariance(name: str) -> None:
    torch.manual_seed(1)
    model = get_model(name, hidden=8).eval()
    graph = random_graph(8, 25, 4)
    perm = torch.randperm(8)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(8)
    weight = graph.edge_weight if name.startswith("paper") else graph.edge_attr
    reference = model(graph.x, graph.edge_index, weight)
    permuted = model(graph.x[perm], inverse[graph.edge_index], weight)
    torch.testing.assert_close(permuted, reference, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["schnet", "cgcnn", "paper-1"])
def test_self_loops_and_parallel_edges_count(name: str) -> None:
    """PyG must neither drop self-loops nor merge parallel edges."""
    torch.manual_seed(2)
    model = get_model(name, hidden=8).eval()
    x = torch.tensor([[47.0, 1.0, 1.0, 1.0], [35.0, 2.0, 0.5, 1.5]])
    edge_index = torch.tensor([[0, 1], [1, 0]])
    weight = torch.tensor([3.0, 3.0]) if not name.startswith("paper") else torch.tensor([0.5, 0.5])
    base = model(x, edge_index, weight)
    looped = model(
        x, torch.cat([edge_index, torch.tensor([[0], [0]])], 1), torch.cat([weight, weight[:1]])
    )
    doubled = model(x, edge_index.repeat(1, 2), weight.repeat(2))
    assert not torch.allclose(base, looped)
    assert not torch.allclose(base, doubled)


def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", ["paper-1", "paper-2", "paper-4", "paper-5", "paper-6"])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("mixed", [True, False])
def test_dense_equals_sparse(name: str, train: bool, mixed: bool) -> None:
    torch.manual_seed(3)
    model = paper_model(name, hidden=16, n_targets=2, dropout=0.0).train(train)
    if mixed:
        batch = mixed_batch(10)
    else:
        batch = Batch.from_data_list([random_graph(6, 20, 20 + k) for k in range(5)])
    dense = dense_from_batch(batch)
    assert (dense.mask is not None) == mixed
    target = torch.randn(batch.num_graphs, 2)

    outputs, grads, stats = [], [], []
    for forward in (lambda: sparse_out(model, batch), lambda: model.forward_dense(dense)):
        state = {k: v.clone() for k, v in model.state_dict().items()}
        model.zero_grad()
        out = forward()
        ((out - target) ** 2).mean().backward()
        outputs.append(out.detach())
        grads.append(_grads(model))
        stats.append(model.state_dict()["norms.0.running_mean"].clone())
        model.load_state_dict(state)
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) == len(list(model.parameters()))
    for key in grads[0]:
        torch.testing.assert_close(grads[1][key], grads[0][key], atol=1e-5, rtol=1e-4, msg=key)
    torch.testing.assert_close(stats[1], stats[0], atol=1e-6, rtol=1e-6)


def test_dense_store_batches_match_direct_conversion() -> None:
    graphs = [random_graph(n, 3 * n, 30 + n) for n in (4, 7, 5, 7, 2)]
    store = DenseGraphStore(graphs, chunk=2)
    assert not store.uniform and len(store) == 5
    index = torch.tensor([3, 0, 4])
    from_store = store.batch(index)
    direct = dense_from_batch(Batch.from_data_list([graphs[i] for i in index.tolist()]))
    for field in ("x", "adj", "n_nodes", "mask"):
        torch.testing.assert_close(getattr(from_store, field), getattr(direct, field))


def test_dense_adjacency_sums_parallel_edges() -> None:
    edge_index = torch.tensor([[1, 1, 0, 2], [0, 0, 0, 1]])  # 1→0 twice, self-loop 0→0
    data = Data(
        x=torch.zeros(3, 1), edge_index=edge_index, edge_weight=torch.tensor([0.5, 0.25, 2.0, 1.0])
    )
    adj = dense_from_batch(data).adj[0]
    expected = torch.zeros(3, 3)
    expected[0, 1], expected[0, 0], expected[1, 2] = 0.75, 2.0, 1.0
    torch.testing.assert_close(adj, expected)


def _distorted(cell: np.ndarray, symbols: str, seed: int) -> Atoms:
    rng = np.random.default_rng(seed)
    atoms = Atoms(symbols, cell=cell, pbc=True)
    atoms.set_scaled_positions(rng.random((len(atoms), 3)))
    atoms.positions += rng.normal(0.0, 0.1, atoms.positions.shape)
    return atoms


TRICLINIC = np.array([[3.1, 0.0, 0.0], [1.2, 3.4, 0.0], [0.7, -0.9, 3.9]])


@pytest.mark.parametrize(
    ("cell", "symbols"),
    [
        (np.eye(3) * 4.793, "BrSAg3"),
        (TRICLINIC, "BrSAg3"),
        (np.eye(3) * 9.586, "Br8S8Ag24"),
        (TRICLINIC * 2.2, "Br8S8Ag24"),
    ],
    ids=["cubic-5-atom", "triclinic-5-atom", "cubic-40-atom", "triclinic-40-atom"],
)
def test_periodic_adjacency_matches_graph_edges(cell: np.ndarray, symbols: str) -> None:
    """The edge-free dense adjacency equals the neighbour-list graph's (all images)."""
    from thermognn.graphs import build_graph

    structures = [_distorted(cell, symbols, seed) for seed in range(3)]
    graphs = [build_graph(a, 5.5) for a in structures]
    for g in graphs:
        g.edge_weight = (g.edge_attr - 1.0) / 4.0
    expected = dense_from_batch(Batch.from_data_list(graphs)).adj
    positions = torch.tensor(np.stack([a.positions for a in structures]))
    cells = torch.tensor(np.stack([a.cell.array for a in structures]))
    got = periodic_adjacency(positions, cells, 5.5, scale=4.0, offset=1.0)
    torch.testing.assert_close(got.float(), expected, atol=1e-4, rtol=1e-5)
