"""Crystal graphs: edges against an independent neighbour list, invariances, features,
and the database-backed dataset with its cache."""

from __future__ import annotations

import logging
import math
from collections import Counter

import ase.db
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import primitive_neighbor_list

from thermognn.errors import DatabaseError, StructureError, ThermognnError
from thermognn.graphs import (
    NODE_FEATURES,
    GraphDataset,
    GraphSettingsError,
    build_graph,
    load_graph_dataset,
    node_features,
)
from thermognn.structures import reference_cell

CUTOFF = 5.5


# --------------------------------------------------------------------------- helpers


def distorted(supercell: tuple[int, int, int], seed: int, sigma: float = 0.15) -> Atoms:
    """Ag3SBr supercell with seeded Gaussian displacements (Å)."""
    atoms = reference_cell("Ag3SBr", supercell)
    atoms.positions += np.random.default_rng(seed).normal(0.0, sigma, atoms.positions.shape)
    return atoms


def triclinic_cell(seed: int = 3) -> Atoms:
    """A strongly skewed triclinic cell with 6 atoms, some outside the cell."""
    cell = np.array([[4.9, 0.0, 0.0], [2.7, 4.3, 0.0], [-1.6, 1.9, 3.8]])
    rng = np.random.default_rng(seed)
    frac = rng.uniform(-0.3, 1.3, (6, 3))
    return Atoms("Ag3SBrI", scaled_positions=frac, cell=cell, pbc=True)


def one_atom_cell(a: float = 2.75) -> Atoms:
    return Atoms("Ag", positions=[[0.1, 0.2, 0.3]], cell=np.eye(3) * a, pbc=True)


def graph_edges(graph) -> dict[tuple[int, int, tuple[int, int, int]], float]:
    """(centre i, neighbour j, shift S) → distance, from a graph (target i, source j)."""
    src, dst = graph.edge_index.numpy()
    shifts = graph.edge_shift.numpy().astype(np.int64)
    edges: dict = {}
    for j, i, s, d in zip(src, dst, shifts, graph.edge_attr.numpy(), strict=True):
        key = (int(i), int(j), tuple(int(v) for v in s))
        assert key not in edges, f"duplicate edge {key}"
        edges[key] = float(d)
    return edges


def reference_edges(atoms: Atoms, cutoff: float) -> dict:
    """The same map from ASE's pure-Python neighbour list (independent reference).

    ASE keeps distances strictly below its cutoff; searching slightly further and
    filtering makes it inclusive (d ≤ cutoff), like the package's definition.
    """
    i, j, shifts, d = primitive_neighbor_list(
        "ijSd", atoms.pbc, atoms.cell.array, atoms.positions, cutoff + 1e-3, self_interaction=False
    )
    return {
        (int(a), int(b), tuple(int(v) for v in s)): float(x)
        for a, b, s, x in zip(i, j, shifts, d, strict=True)
        if x <= cutoff
    }


def rounded_multiset(graph, decimals: int = 3) -> Counter:
    src, dst = graph.edge_index.numpy()
    d = np.round(graph.edge_attr.numpy().astype(np.float64), decimals)
    return Counter(zip(dst.tolist(), src.tolist(), d.tolist(), strict=True))


CELLS = {
    "distorted-40": lambda: distorted((2, 2, 2), seed=11),
    "small-5": lambda: reference_cell("Ag3SBr", (1, 1, 1)),
    "distorted-5": lambda: distorted((1, 1, 1), seed=5),
    "triclinic": triclinic_cell,
    "one-atom": one_atom_cell,
}


# --------------------------------------------------------------------------- edges


@pytest.mark.parametrize("name", list(CELLS))
def test_edges_equal_independent_neighbour_list(name: str) -> None:
    atoms = CELLS[name]()
    graph = build_graph(atoms, CUTOFF)
    ours, ref = graph_edges(graph), reference_edges(atoms, CUTOFF)
    assert set(ours) == set(ref)
    keys = sorted(ref)
    np.testing.assert_allclose([ours[k] for k in keys], [ref[k] for k in keys], atol=1e-5)
    # the brief's multiset form: (i, j, rounded distance)
    ref_multiset = Counter((i, j, round(d, 3)) for (i, j, _), d in ref.items())
    assert rounded_multiset(graph) == ref_multiset


@pytest.mark.parametrize("name", list(CELLS))
def test_edge_shift_and_distance_are_consistent(name: str) -> None:
    graph = build_graph(CELLS[name](), CUTOFF)
    src, dst = graph.edge_index
    vectors = graph.pos[src] + graph.edge_shift @ graph.cell[0] - graph.pos[dst]
    torch.testing.assert_close(vectors.norm(dim=1), graph.edge_attr, atol=1e-4, rtol=0)
    assert float(graph.edge_attr.max()) <= CUTOFF
    assert float(graph.edge_attr.min()) > 0.0


@pytest.mark.parametrize("name", list(CELLS))
def test_every_edge_has_its_reverse(name: str) -> None:
    edges = graph_edges(build_graph(CELLS[name](), CUTOFF))
    for (i, j, s), d in edges.items():
        reverse = (j, i, tuple(-v for v in s))
        assert reverse in edges
        assert edges[reverse] == pytest.approx(d, abs=1e-6)


def test_small_cell_has_self_loops_and_parallel_edges() -> None:
    atoms = reference_cell("Ag3SBr", (1, 1, 1))  # a = 4.793 Å < cutoff
    graph = build_graph(atoms, CUTOFF)
    edges = graph_edges(graph)
    self_loops = [k for k in edges if k[0] == k[1]]
    # each atom sees its 6 face-sharing images at a = 4.793 Å (next: a√2 = 6.78 Å)
    assert len(self_loops) == 5 * 6
    assert all(s != (0, 0, 0) for _, _, s in self_loops)
    pair_counts = Counter((i, j) for i, j, _ in edges)
    # S (index 1) sees Br (index 0) at the 8 cube corners, a√3/2 = 4.15 Å
    assert pair_counts[(1, 0)] == 8
    assert max(pair_counts.values()) > 1
    assert graph.num_edges == sum(pair_counts.values())


def test_one_atom_cell_cutoff_is_inclusive() -> None:
    # simple cubic a = 2.75 Å: images at a, a√2, a√3 and 2a = 5.5 Å exactly
    graph = build_graph(one_atom_cell(2.75), 5.5)
    assert bool((graph.edge_index[0] == graph.edge_index[1]).all())
    assert graph.num_edges == 6 + 12 + 8 + 6
    assert float(graph.edge_attr.max()) == pytest.approx(5.5)
    below = build_graph(one_atom_cell(2.75), 5.5 - 1e-9)
    assert below.num_edges == 6 + 12 + 8


def test_translation_and_wrapping_invariance() -> None:
    atoms = distorted((2, 2, 2), seed=21)
    moved = atoms.copy()
    moved.translate([3.1, -7.4, 12.9])
    wrapped = moved.copy()
    wrapped.wrap()
    reference = rounded_multiset(build_graph(atoms, CUTOFF))
    assert rounded_multiset(build_graph(moved, CUTOFF)) == reference
    assert rounded_multiset(build_graph(wrapped, CUTOFF)) == reference


def test_permutation_permutes_edges() -> None:
    atoms = distorted((2, 2, 2), seed=31)
    perm = np.random.default_rng(0).permutation(len(atoms))
    permuted = atoms[perm]
    original, shuffled = build_graph(atoms, CUTOFF), build_graph(permuted, CUTOFF)
    torch.testing.assert_close(shuffled.x, original.x[perm])
    mapped = {(int(perm[i]), int(perm[j]), s): d for (i, j, s), d in graph_edges(shuffled).items()}
    expected = graph_edges(original)
    assert set(mapped) == set(expected)
    assert all(mapped[k] == pytest.approx(expected[k], abs=1e-5) for k in expected)


def test_field_dtypes_shapes_and_batching() -> None:
    from torch_geometric.data import Batch

    atoms = distorted((1, 1, 1), seed=1)
    graph = build_graph(atoms, CUTOFF, labels=[1.25, -0.5])
    n, e = len(atoms), graph.num_edges
    expected = {
        "x": (torch.float32, (n, len(NODE_FEATURES))),
        "edge_index": (torch.int64, (2, e)),
        "edge_attr": (torch.float32, (e,)),
        "edge_shift": (torch.float32, (e, 3)),
        "pos": (torch.float32, (n, 3)),
        "cell": (torch.float32, (1, 3, 3)),
        "z": (torch.int64, (n,)),
        "y": (torch.float32, (1, 2)),
    }
    for field, (dtype, shape) in expected.items():
        assert graph[field].dtype == dtype, field
        assert tuple(graph[field].shape) == shape, field
    assert torch.equal(graph.edge_shift, graph.edge_shift.round())
    assert graph.y.tolist() == [[1.25, -0.5]]
    assert "y" not in build_graph(atoms, CUTOFF)
    batch = Batch.from_data_list([graph, graph])
    assert tuple(batch.cell.shape) == (2, 3, 3)
    assert tuple(batch.y.shape) == (2, 2)
    assert int(batch.edge_index.max()) == 2 * n - 1


# --------------------------------------------------------------------------- features


def test_node_features_match_mendeleev_for_ag() -> None:
    from mendeleev import element

    ag = element("Ag")
    expected = [ag.atomic_number, ag.atomic_weight, ag.atomic_radius / 100.0, ag.en_pauling]
    np.testing.assert_allclose(node_features([47])[0], expected, rtol=1e-6)
    assert expected[2] == pytest.approx(1.60)  # Å
    graph = build_graph(reference_cell("Ag3SBr", (1, 1, 1)), CUTOFF)
    np.testing.assert_allclose(graph.x[2:].numpy(), np.tile(expected, (3, 1)), rtol=1e-6)
    assert graph.z.tolist() == [35, 16, 47, 47, 47]


@pytest.mark.parametrize(
    ("numbers", "words"),
    [([2], ("He", "electronegativity")), ([36], ("Kr", "atomic_radius")), ([0], ("0",))],
)
def test_element_without_feature_is_a_structure_error(numbers, words) -> None:
    with pytest.raises(StructureError) as info:
        node_features(numbers)
    for word in words:
        assert word in str(info.value)


def test_unknown_atomic_number_in_structure() -> None:
    atoms = Atoms(numbers=[47, 200], positions=[[0, 0, 0], [1, 1, 1]], cell=np.eye(3) * 4, pbc=1)
    with pytest.raises(StructureError, match="200"):
        build_graph(atoms)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("cutoff", [0.0, -1.0, math.nan, math.inf, "5.5", None, True])
def test_bad_cutoff(cutoff) -> None:
    with pytest.raises(GraphSettingsError, match="cutoff") as info:
        build_graph(one_atom_cell(), cutoff)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ThermognnError)


def test_non_periodic_zero_volume_and_empty_cells() -> None:
    molecule = Atoms("Ag2", positions=[[0, 0, 0], [2.5, 0, 0]], cell=np.eye(3) * 10)
    with pytest.raises(StructureError, match="periodic"):
        build_graph(molecule)
    slab = molecule.copy()
    slab.pbc = [True, True, False]
    with pytest.raises(StructureError, match="periodic"):
        build_graph(slab)
    flat = Atoms("Ag", cell=[[3, 0, 0], [0, 3, 0], [3, 3, 0]], pbc=True)
    with pytest.raises(StructureError, match="volume"):
        build_graph(flat)
    with pytest.raises(StructureError, match="atom"):
        build_graph(Atoms(cell=np.eye(3) * 3, pbc=True))


# --------------------------------------------------------------------------- dataset

LABELS = ("energy_per_atom", "band_gap", "vbm", "hydrostatic_stress")


@pytest.fixture
def study_db(tmp_path):
    """A tiny study database: a reference row, 5 labelled rows, 1 unlabelled row.

    Label values are fake but finite: the bookkeeping is under test, not the physics.
    """
    path = tmp_path / "study.db"
    rng = np.random.default_rng(7)
    base = reference_cell("Ag3SBr", (1, 1, 1))
    with ase.db.connect(path) as db:
        ref_id = db.write(base, material="Ag3SBr", scheme="reference", labeled=False)
        for k in range(6):
            atoms = base.copy()
            atoms.positions += rng.normal(0.0, 0.1, atoms.positions.shape)
            scheme = "phonon" if k % 2 == 0 else "random"
            kvp = {"material": "Ag3SBr", "scheme": scheme, "parent_id": ref_id}
            if k < 5:
                kvp.update({name: float(rng.normal()) for name in LABELS}, labeled=True)
            else:
                kvp["labeled"] = False
            db.write(atoms, **kvp)
    return path


def test_dataset_rows_labels_and_bookkeeping(study_db, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        data = load_graph_dataset(study_db, labels=["band_gap", "vbm"])
    assert isinstance(data, GraphDataset)
    assert len(data) == 5
    assert data.labels == ("band_gap", "vbm")
    assert data.row_ids.tolist() == [2, 3, 4, 5, 6]
    assert data.skipped == [1, 7]
    assert "skipping 2" in caplog.text
    assert data.parent_ids.tolist() == [1] * 5
    assert data.schemes == ["phonon", "random", "phonon", "random", "phonon"]
    assert data.materials == ["Ag3SBr"] * 5
    db = ase.db.connect(study_db)
    for graph, row_id in zip(data, data.row_ids, strict=True):
        row = db.get(id=int(row_id))
        np.testing.assert_allclose(graph.y.numpy(), [[row.band_gap, row.vbm]], rtol=1e-6)
        assert graph.row_id.tolist() == [row_id]
        assert graph.parent_id.dtype == torch.int64
        assert graph.num_edges == build_graph(row.toatoms(), CUTOFF).num_edges
    assert data.targets.shape == (5, 2)
    subset = data[[0, 2]]
    assert isinstance(subset, GraphDataset)
    assert subset.row_ids.tolist() == [2, 4]


def test_dataset_queries(study_db) -> None:
    by_dict = load_graph_dataset(study_db, labels=["band_gap"], query={"scheme": "phonon"})
    by_text = load_graph_dataset(study_db, labels=["band_gap"], query="scheme=phonon,labeled=1")
    assert by_dict.row_ids.tolist() == by_text.row_ids.tolist() == [2, 4, 6]
    assert by_dict.skipped == [] and by_text.skipped == []
    with pytest.raises(DatabaseError, match="md"):
        load_graph_dataset(study_db, labels=["band_gap"], query={"scheme": "md"})
    with pytest.raises(DatabaseError, match="nope.db: no such study database"):
        load_graph_dataset(study_db.with_name("nope.db"), labels=["band_gap"])


def test_dataset_missing_labels_error(study_db) -> None:
    with pytest.raises(DatabaseError, match=r"ids 1, 7"):
        load_graph_dataset(study_db, labels=["band_gap"], missing="error")
    with ase.db.connect(study_db) as db:
        db.update(3, band_gap=float("nan"))
    with pytest.raises(DatabaseError, match=r"ids 3, 7"):
        load_graph_dataset(study_db, labels=["band_gap"], query="scheme=random", missing="error")
    skipped = load_graph_dataset(study_db, labels=["band_gap"], query="scheme=random")
    assert skipped.skipped == [3, 7]
    with pytest.raises(GraphSettingsError):
        load_graph_dataset(study_db, labels=[])


def test_dataset_unknown_label_names_the_keys(study_db) -> None:
    # a typo ('gap' for 'band_gap') names the label and the numeric keys on offer
    with pytest.raises(DatabaseError, match=r"unknown gap .*band_gap") as err:
        load_graph_dataset(study_db, labels=["gap"])
    assert "\n" not in str(err.value)


def test_dataset_cache_hit_and_miss(study_db, tmp_path) -> None:
    first = load_graph_dataset(study_db, labels=["band_gap"])
    assert not first.from_cache
    assert first.cache_path is not None and first.cache_path.is_file()
    assert first.cache_path.parent == study_db.with_name("study.db.graphs")

    second = load_graph_dataset(study_db, labels=["band_gap"])
    assert second.from_cache and second.cache_path == first.cache_path
    for a, b in zip(first, second, strict=True):
        assert set(a.keys()) == set(b.keys())
        for key in a.keys():
            assert a[key].dtype == b[key].dtype, key
            assert torch.equal(a[key], b[key]), key

    # relabelling a row changes the key: a miss, with the new value
    with ase.db.connect(study_db) as db:
        db.update(4, band_gap=42.0)
    third = load_graph_dataset(study_db, labels=["band_gap"])
    assert not third.from_cache and third.cache_path != first.cache_path
    assert float(third[list(third.row_ids).index(4)].y) == 42.0

    # moving the atoms of a row (a new mtime) is a miss too
    with ase.db.connect(study_db) as db:
        moved = db.get_atoms(id=5)
        moved.positions[0] += 0.05
        db.update(5, atoms=moved)
    fourth = load_graph_dataset(study_db, labels=["band_gap"])
    assert not fourth.from_cache
    torch.testing.assert_close(fourth[3].pos, torch.from_numpy(moved.positions).float())

    # so does another cutoff or another selection
    assert not load_graph_dataset(study_db, labels=["band_gap"], cutoff=5.0).from_cache
    assert not load_graph_dataset(study_db, labels=["band_gap"], query="scheme=phonon").from_cache
    assert load_graph_dataset(study_db, labels=["band_gap"], cutoff=5.0).from_cache
    # another label of the same rows shares the graphs; y comes from the rows
    vbm = load_graph_dataset(study_db, labels=["vbm"])
    assert vbm.from_cache and vbm.cache_path == fourth.cache_path
    with ase.db.connect(study_db) as db:
        expected = [db.get(id=int(i)).vbm for i in vbm.row_ids]
    assert [float(g.y) for g in vbm] == pytest.approx(expected, rel=1e-6)

    # an explicit cache folder, and no cache at all
    elsewhere = load_graph_dataset(study_db, labels=["band_gap"], cache_dir=tmp_path / "c")
    assert elsewhere.cache_path.parent == tmp_path / "c" and not elsewhere.from_cache
    off = load_graph_dataset(study_db, labels=["band_gap"], use_cache=False)
    assert off.cache_path is None and not off.from_cache


def test_cache_file_loads_without_pickle(study_db) -> None:
    data = load_graph_dataset(study_db, labels=list(LABELS))
    with np.load(data.cache_path, allow_pickle=False) as npz:
        assert int(npz["node_ptr"][-1]) == sum(g.num_nodes for g in data)
        assert "y" not in npz.files and "labels" not in npz.files  # labels come from the rows


def test_dataset_feeds_a_pyg_loader(study_db) -> None:
    from torch_geometric.loader import DataLoader

    data = load_graph_dataset(study_db, labels=list(LABELS))
    batch = next(iter(DataLoader(data, batch_size=4, shuffle=False)))
    assert tuple(batch.y.shape) == (4, 4)
    assert batch.row_id.tolist() == [2, 3, 4, 5]
    assert tuple(batch.edge_attr.shape) == (batch.num_edges,)


def test_corrupt_cache_file_is_rebuilt(study_db, caplog) -> None:
    first = load_graph_dataset(study_db, labels=["band_gap"])
    first.cache_path.write_bytes(b"not an npz file")
    with caplog.at_level(logging.WARNING):
        again = load_graph_dataset(study_db, labels=["band_gap"])
    assert not again.from_cache
    assert "unreadable graph cache" in caplog.text
    assert load_graph_dataset(study_db, labels=["band_gap"]).from_cache
