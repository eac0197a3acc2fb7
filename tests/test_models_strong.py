"""The moment-invariant family: shapes, invariances, registry and a short real training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk
from torch_geometric.data import Batch, Data

from thermognn.graphs import build_graph
from thermognn.models import get_model, model_spec
from thermognn.models.moments import N_CHANNELS, MomentInvariants, edge_vectors
from thermognn.models.registry import family_search_space
from thermognn.structures import antiperovskite
from thermognn.training.scalers import Scalers


def rattled_cell(seed: int) -> object:
    """A 2×1×1 Ag3SBr cell (10 atoms) with random displacements of ≤ 0.2 Å."""
    atoms = antiperovskite("Br").repeat((2, 1, 1))
    rng = np.random.default_rng(seed)
    atoms.positions += rng.uniform(-0.2, 0.2, atoms.positions.shape)
    return atoms


def model_ready(atoms: object) -> Data:
    """The graph of ``atoms`` as the trainer hands it to the family (unscaled x, Å)."""
    scalers = Scalers.fit([build_graph(atoms)], np.zeros((1, 1)), ("identity",) * 3)
    return scalers.transform_graph(build_graph(atoms))


def call(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    return model(batch.x, batch.edge_index, batch.edge_weight, batch.batch, edge_vec=batch.edge_vec)


@pytest.fixture()
def model() -> MomentInvariants:
    torch.manual_seed(0)
    m = get_model("moments", hidden=8, n_targets=3)
    m.eval()
    return m  # type: ignore[return-value]


def test_registered_with_its_search_space() -> None:
    spec = model_spec("moments")
    assert spec.family == "moments" and spec.scaling.target == "standard"
    space = family_search_space("moments")
    assert space is not None and {"lr", "n_rbf", "hidden"} <= set(space)


def test_output_shape_and_edge_vectors(model: MomentInvariants) -> None:
    graphs = [model_ready(rattled_cell(k)) for k in range(3)]
    batch = Batch.from_data_list(graphs)
    assert call(model, batch).shape == (3, 3)
    raw = Batch.from_data_list([build_graph(rattled_cell(k)) for k in range(3)])
    vec = edge_vectors(raw.pos, raw.cell, raw.edge_shift, raw.edge_index, raw.batch)
    torch.testing.assert_close(vec, batch.edge_vec)
    torch.testing.assert_close(vec.norm(dim=-1), raw.edge_attr, atol=1e-4, rtol=1e-5)
    with pytest.raises(ValueError, match="edge vectors"):
        model(batch.x, batch.edge_index, batch.edge_weight, batch.batch)


def test_permutation_translation_and_rotation_invariance(model: MomentInvariants) -> None:
    atoms = rattled_cell(1)
    reference = call(model, Batch.from_data_list([model_ready(atoms)]))
    order = np.random.default_rng(2).permutation(len(atoms))
    moved = atoms[order]
    moved.positions += np.array([0.7, -1.3, 2.9])
    moved.wrap()
    torch.testing.assert_close(
        call(model, Batch.from_data_list([model_ready(moved)])), reference, atol=1e-5, rtol=1e-4
    )
    rotated = atoms.copy()
    rotated.rotate(37.0, (1.0, 2.0, 0.5), rotate_cell=True)
    torch.testing.assert_close(
        call(model, Batch.from_data_list([model_ready(rotated)])), reference, atol=1e-5, rtol=1e-4
    )


def test_distinguishes_directions_at_equal_distances() -> None:
    """Same bond lengths, different angles: the l ≥ 1 invariants tell them apart."""
    m = get_model("moments", hidden=0)
    x = torch.tensor([[47.0, 107.9, 1.6, 1.93]]).repeat(3, 1)
    index = torch.tensor([[1, 2], [0, 0]])
    straight = torch.tensor([[2.5, 0.0, 0.0], [-2.5, 0.0, 0.0]])
    bent = torch.tensor([[2.5, 0.0, 0.0], [0.0, 2.5, 0.0]])
    a = m.precompute(x, index, straight)[0]
    b = m.precompute(x, index, bent)[0]
    channels = N_CHANNELS * m.centres.numel()
    torch.testing.assert_close(a[:channels], b[:channels])  # l = 0: distances only
    assert not torch.allclose(a[channels:], b[channels:])


def test_batch_source_caches_the_invariants(model: MomentInvariants) -> None:
    """Training through a sparse source (cached invariants) equals the direct call."""
    from thermognn.training.batches import SparseSource, predict_scaled

    graphs = [model_ready(rattled_cell(k)) for k in range(5)]
    source = SparseSource(graphs, None)
    cached = predict_scaled(model, source, batch_size=2)
    assert len(source._cache) == 5
    direct = call(model, Batch.from_data_list(graphs))
    torch.testing.assert_close(cached, direct, atol=1e-5, rtol=1e-4)


def test_trains_a_few_epochs_on_5_atom_cells(tiny_ag3sbr_db, tmp_path) -> None:
    from thermognn.training import train_run
    from thermognn.training.predict import Predictor

    result = train_run(
        tiny_ag3sbr_db,
        labels=["band_gap", "energy_per_atom"],
        model="moments",
        hparams={"hidden": 8, "n_rbf": 4},
        query={"scheme": "phonon"},
        out=tmp_path / "run",
        epochs=5,
        batch_size=4,
        split=(0.5, 0.25, 0.25),
        progress=False,
        seed=0,
    )
    assert result.epochs_run == 5
    assert np.isfinite(result.metrics["band_gap"]["test"]["mae"])
    predictor = Predictor.from_run(result.run_dir)
    cells = [antiperovskite("Br"), bulk("Cu", "fcc", a=3.6)]
    values = predictor.predict_atoms(cells)
    assert values.shape == (2, 2) and np.isfinite(values).all()
    # same-size cells take the batched bond-vector path: the same numbers as graph by graph
    rattled = [rattled_cell(seed) for seed in range(5)]
    fast = predictor.predict_atoms(rattled)
    slow = predictor.predict_graphs([build_graph(a, predictor.record.cutoff) for a in rattled])
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("route", ["verlet", "searched", "strained"])
def test_batched_bond_vectors_are_the_graph_edges(route: str) -> None:
    """periodic_edge_vectors gives build_graph's edges (self-images included), unwrapped
    and wrapped cells alike, and nothing else: through the Verlet list (one lattice),
    by searching every image (skin 0), and for cells of different lattices."""
    from thermognn.models.periodic import _verlet_edges, periodic_edge_vectors

    cells = [rattled_cell(seed) for seed in range(4)]
    for atoms in cells[::2]:
        atoms.wrap()
    if route == "strained":
        cells[1].set_cell(cells[1].cell[:] * 1.02, scale_atoms=True)
    n = len(cells[0])
    positions = torch.tensor(np.stack([a.positions for a in cells]))
    lattice = torch.tensor(np.stack([a.cell[:] for a in cells]))
    skin = 0.0 if route == "searched" else 2.0
    src, dst, vectors = periodic_edge_vectors(positions, lattice, 5.5, max_skin=skin)
    if route == "verlet":  # the candidate list is taken, not the fallback
        assert _verlet_edges(positions, lattice[0], 5.5, skin) is not None
    for b, atoms in enumerate(cells):
        g = build_graph(atoms, 5.5)
        j, i = g.edge_index
        pos = torch.tensor(atoms.positions)
        expected = pos[j] + g.edge_shift.double() @ torch.tensor(atoms.cell[:]) - pos[i]
        mine = (dst >= b * n) & (dst < (b + 1) * n)

        def key(t, s, v):
            return sorted(zip(t.tolist(), s.tolist(), np.round(v.numpy(), 6).tolist()))

        assert key(dst[mine] - b * n, src[mine] - b * n, vectors[mine]) == key(i, j, expected)


def test_transforming_many_graphs_at_once_equals_one_by_one() -> None:
    graphs = [build_graph(rattled_cell(seed)) for seed in range(3)]
    labels = np.array([[1.0, 2.0], [3.0, 5.0], [0.5, 1.0]])
    for g, row in zip(graphs, labels, strict=True):
        g.y = torch.tensor(row, dtype=torch.float32).reshape(1, -1)
    scalers = Scalers.fit(graphs, labels, ("minmax", "proximity", "standard"), 5.5)
    for vectors in (True, False):
        many = scalers.transform_graphs(graphs, [1], vectors=vectors)
        for g, fast in zip(graphs, many, strict=True):
            slow = scalers.transform_graph(g, [1], vectors=vectors)
            assert sorted(fast.keys()) == sorted(slow.keys())
            assert ("edge_vec" in fast.keys()) == vectors
            for key in slow.keys():
                torch.testing.assert_close(fast[key], slow[key])
