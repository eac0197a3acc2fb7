"""Any ASE calculator as a labeler, full results kept on the row, CHGNet when installed."""

from __future__ import annotations

import subprocess
import sys

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write
from ase.units import GPa

from thermognn.cli.main import main
from thermognn.database import StudyDatabase
from thermognn.errors import ThermognnError
from thermognn.labels import calculator_factory, get_labeler, label_structures, labeler_names
from thermognn.sampling import SamplingSpec, sample_configurations

EMT_SPEC = "ase.calculators.emt:EMT"


@pytest.fixture
def cu_study(tmp_path):
    """fcc Cu (4-atom cubic cell): a reference and 6 random configurations, unlabeled."""
    cif = tmp_path / "Cu.cif"
    write(cif, bulk("Cu", "fcc", a=3.6, cubic=True))
    db = StudyDatabase(tmp_path / "cu.db", study="cu")
    spec = SamplingSpec(str(cif), "random", 6, seed=2, supercell=(1, 1, 1), amplitude=(0.05, 0.1))
    sample_configurations(db, spec)
    return db


def test_cli_labels_with_an_import_spec_and_ase_reads_the_results(cu_study):
    path = cu_study.url
    uid = cu_study.ase.get(id=2).unique_id
    assert main(["label", "--db", path, "--calculator", EMT_SPEC, "--workers", "0"]) == 0
    rows = list(cu_study.select(labeled=True))
    assert len(rows) == 7 and all(r.labeler == EMT_SPEC for r in rows)
    assert cu_study.ase.get(id=2).unique_id == uid  # the row keeps its identity
    frames = ase.io.read(f"{path}@labeled=1", index=":")
    assert len(frames) == 7
    for atoms, row in zip(frames, rows, strict=True):
        ref = atoms.copy()
        ref.calc = EMT()
        assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy())
        np.testing.assert_allclose(atoms.get_forces(), ref.get_forces(), atol=1e-10)
        np.testing.assert_allclose(atoms.get_stress(), ref.get_stress(), atol=1e-12)
        assert row.energy_per_atom == pytest.approx(ref.get_potential_energy() / len(atoms))
        assert row.hydrostatic_stress == pytest.approx(ref.get_stress()[:3].mean() / GPa)
        assert "band_gap" not in row.key_value_pairs  # missing, not a failure
    listing = subprocess.run(
        [sys.executable, "-m", "ase", "db", path, "-c", "id,energy,fmax,smax"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "fmax" in listing and "Rows: 7" in listing


def test_calculator_options_reach_the_factory(cu_study, tmp_path):
    toml = tmp_path / "study.toml"
    toml.write_text(
        f'[study]\ndb = "{cu_study.url}"\n[label]\nlabeler = "{EMT_SPEC}"\nworkers = 0\n'
        "calculator_option = {asap_cutoff = true}\nlimit = 2\n"
    )
    assert main(["run", str(toml)]) == 0
    assert cu_study.ase.count(labeled=True) == 2
    assert StudyDatabase(cu_study.url).metadata["config"]["label"]["asap_cutoff"] is True
    with pytest.raises(ThermognnError, match="calculator math:sqrt: .*keyword"):
        get_labeler("math:sqrt", bogus=1)
    with pytest.raises(ThermognnError, match="returned list, not an ASE calculator"):
        get_labeler("builtins:list")
    with pytest.raises(ThermognnError, match="cannot import no_such_module"):
        get_labeler("no_such_module:Calc")


def test_builtins_are_registry_entries_and_label_lists_of_atoms():
    assert {"gfn1-xtb", "gfn2-xtb", "emt", "chgnet", "vasp"} <= set(labeler_names())
    cu = bulk("Cu", "fcc", a=3.7, cubic=True)
    out = label_structures([cu, cu.copy()], labeler="emt")
    assert out[0].forces.shape == (4, 3) and out[0].energy == pytest.approx(out[1].energy)
    calc = calculator_factory(EMT_SPEC)()
    assert isinstance(calc, EMT)


def test_band_edges_from_a_calculator_that_exposes_levels():
    """A calculator exposing eigenvalues and a Fermi level gives gap and VBM (k-aware)."""
    from ase.calculators.calculator import Calculator

    from thermognn.labels.calculators import ASECalculatorLabeler

    class Levels(Calculator):
        implemented_properties = ["energy"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            super().calculate(atoms, properties, system_changes)
            self.results["energy"] = -1.0

        def get_number_of_spins(self):
            return 1

        def get_ibz_k_points(self):
            return np.zeros((2, 3))

        def get_eigenvalues(self, kpt=0, spin=0):
            return np.array([-3.0, -1.0, 0.5, 2.0]) + 0.2 * kpt

        def get_fermi_level(self):
            return 0.0

    labels = ASECalculatorLabeler(Levels(), name="levels").label(bulk("Cu", "fcc", a=3.6))
    assert labels.vbm == pytest.approx(-0.8) and labels.band_gap == pytest.approx(1.3)
    assert labels.forces is None and labels.stress is None


def test_chgnet_labels_keep_forces_and_stress(cu_study):
    pytest.importorskip("chgnet")
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    labels = get_labeler("chgnet", device="cpu").label(cu)
    assert labels.forces.shape == (4, 3) and labels.hydrostatic_stress is not None
    # a study labeled by CHGNet: ase db and ase.io read energy, forces and stress back
    path = cu_study.url
    assert main(["label", "--db", path, "--calculator", "chgnet", "--workers", "0"]) == 0
    frames = ase.io.read(f"{path}@labeled=1", index=":")
    rows = list(cu_study.select(labeled=True))
    assert len(frames) == len(rows) == 7
    for atoms, row in zip(frames, rows, strict=True):
        assert atoms.get_forces().shape == (4, 3) and np.isfinite(atoms.get_forces()).all()
        assert row.energy_per_atom == pytest.approx(atoms.get_potential_energy() / 4)
        assert row.hydrostatic_stress == pytest.approx(atoms.get_stress()[:3].mean() / GPa)
    # translation moves no force (a check on CHGNet, not a stored copy)
    shifted = frames[1].copy()
    shifted.translate([0.3, -0.2, 0.1])
    moved = get_labeler("chgnet", device="cpu").label(shifted)
    np.testing.assert_allclose(moved.forces, frames[1].get_forces(), atol=1e-4)
    with pytest.raises(ThermognnError, match="cuda:7"):
        get_labeler("chgnet", device="cuda:7")
