"""Export to extxyz, train from a structure file, the PyG InMemoryDataset."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
import torch

from thermognn.cli.main import main
from thermognn.database import StudyDatabase
from thermognn.errors import ThermognnError
from thermognn.graphs.pyg import CrystalGraphDataset, is_study_database
from thermognn.labels import LABEL_NAMES, label_database
from thermognn.sampling import SamplingSpec, sample_configurations


@pytest.fixture(scope="module")
def labeled_xyz(tmp_path_factory):
    """12 GFN1-xTB-labeled 5-atom Ag3SBr cells exported to extxyz (~10 s)."""
    folder = tmp_path_factory.mktemp("export")
    db = StudyDatabase(folder / "s.db", study="x")
    spec = SamplingSpec("Ag3SBr", "random", 12, seed=4, supercell=(1, 1, 1), amplitude=(0.05, 0.2))
    sample_configurations(db, spec)
    label_database(db, workers=0)
    out = folder / "train.xyz"
    assert (
        main(["export", "--db", str(folder / "s.db"), "--format", "extxyz", "--out", str(out)]) == 0
    )
    return db, out


def test_export_round_trip_keeps_forces_and_the_four_labels(labeled_xyz):
    db, out = labeled_xyz
    frames = ase.io.read(out, index=":")
    rows = list(db.select(labeled=True))
    assert len(frames) == len(rows) == 13
    for atoms, row in zip(frames, rows, strict=True):
        assert atoms.info["row_id"] == row.id and atoms.info["scheme"] == row.scheme
        for name in LABEL_NAMES:
            assert atoms.info[name] == pytest.approx(row[name], rel=1e-9)
        assert atoms.get_forces().shape == (5, 3)
        np.testing.assert_allclose(atoms.get_forces(), row.forces, atol=1e-8)
        assert atoms.get_potential_energy() == pytest.approx(row.energy_per_atom * 5, rel=1e-9)
        np.testing.assert_allclose(atoms.get_stress(), row.stress, atol=1e-10)
    reference = frames[0]  # the perfect cubic cell: forces vanish by symmetry
    assert reference.info["scheme"] == "reference"
    assert np.abs(reference.get_forces()).max() < 1e-5
    with pytest.raises(ThermognnError, match="matches no row"):
        from thermognn.database.export import export_structures

        export_structures(db, out.with_name("none.xyz"), query="scheme=nothing")


def test_train_from_a_structure_file(labeled_xyz, tmp_path):
    _, out = labeled_xyz
    run = tmp_path / "run"
    argv = ["train", "--data", str(out), "--label", "band_gap", "--out", str(run)]
    assert main([*argv, "--epochs", "3", "--model", "paper-1", "--batch-size", "4"]) == 0
    import json

    record = json.loads((run / "model.json").read_text())
    assert record["data"]["db"] == str(out) and record["data"]["n_graphs"] == 13


def test_in_memory_dataset_from_file_and_database(labeled_xyz):
    db, out = labeled_xyz
    assert is_study_database(db.url) and not is_study_database(out)
    from_file = CrystalGraphDataset(out, labels=["energy_per_atom", "band_gap"])
    from_db = CrystalGraphDataset(db.url, labels=["energy_per_atom", "band_gap"])
    assert len(from_file) == len(from_db) == 13
    g, h = from_file[3], from_db[3]
    assert g.y.shape == (1, 2) and g.x.shape[0] == 5 and g.edge_index.shape[0] == 2
    assert torch.allclose(g.y, h.y) and g.edge_index.shape == h.edge_index.shape
    from torch_geometric.loader import DataLoader

    batch = next(iter(DataLoader(from_file, batch_size=4)))
    assert batch.y.shape == (4, 2) and batch.num_graphs == 4
