"""thermognn relax (EMT on strained fcc Cu) and the phonons check of the reference."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from thermognn.cli.main import main
from thermognn.errors import ThermognnError
from thermognn.labels import calculator_factory
from thermognn.structures.relax import check_equilibrium, relax_structure, residuals


@pytest.fixture
def strained_cu(tmp_path):
    """fcc Cu primitive cell at a = 3.3 Å (EMT's equilibrium is 3.59 Å): ~ −40 GPa."""
    path = tmp_path / "Cu.cif"
    write(path, bulk("Cu", "fcc", a=3.3))
    return path


def test_relax_brings_the_stress_to_zero_and_keeps_symmetry(strained_cu, tmp_path):
    out = tmp_path / "relaxed.extxyz"
    argv = ["relax", "--material", str(strained_cu), "--calculator", "emt", "--out", str(out)]
    assert main([*argv, "--supercell", "2", "--fmax", "0.001"]) == 0
    relaxed = ase.io.read(out)
    record = json.loads(out.with_name("relaxed.extxyz.relax.json").read_text())
    assert record["initial"]["hydrostatic_stress"] < -10  # far off: compressed
    assert abs(record["final"]["hydrostatic_stress"]) < 0.05 and record["converged"]
    assert len(relaxed) == 1 and relaxed.cell.cellpar()[3:] == pytest.approx([60, 60, 60])
    lattice = relaxed.cell.lengths()[0] * np.sqrt(2)  # primitive fcc: a/√2
    assert lattice == pytest.approx(3.59, abs=0.02)
    again = residuals(relaxed, calculator_factory("emt")())
    assert abs(again.hydrostatic_stress) < 0.05 and again.max_force < 1e-6


def test_positions_relax_to_zero_forces():
    cu = bulk("Cu", "fcc", a=3.59, cubic=True)
    cu.positions[0] += [0.1, 0.0, 0.05]
    result = relax_structure(cu, calculator_factory("emt"), cell=False, symmetry=False)
    assert result.initial.max_force > 0.1 and result.final.max_force < 0.01
    assert result.atoms.get_forces().shape == (4, 3)  # the final results travel along
    with pytest.raises(ThermognnError, match="optimizer 'newton'"):
        relax_structure(cu, calculator_factory("emt"), optimizer="newton")


def test_phonons_refuse_an_unrelaxed_reference(strained_cu, tmp_path, capsys):
    argv = ["phonons", "--material", str(strained_cu), "--calculator", "emt", "--supercell", "2"]
    assert main([*argv, "--out", str(tmp_path / "ph")]) == 2
    err = capsys.readouterr().err
    assert "not at this calculator's equilibrium" in err and "thermognn relax" in err
    assert "--allow-unrelaxed" in err and not (tmp_path / "ph").exists()
    assert main([*argv, "--out", str(tmp_path / "ph2"), "--allow-unrelaxed"]) == 0
    assert "WARNING" in capsys.readouterr().err
    saved = json.loads((tmp_path / "ph2" / "reference_residuals.json").read_text())
    assert saved["hydrostatic_stress"] < -10


def test_small_residuals_pass_and_moderate_ones_warn():
    found = residuals(bulk("Cu", "fcc", a=3.59), calculator_factory("emt")())
    assert check_equilibrium(found) is None
    moderate = residuals(bulk("Cu", "fcc", a=3.55), calculator_factory("emt")())
    assert 1 < abs(moderate.hydrostatic_stress) < 10
    assert "relax it first" in (check_equilibrium(moderate) or "")


def test_a_calculator_failing_mid_relaxation_is_one_clear_error(strained_cu):
    from ase.calculators.emt import EMT

    class Breaks(EMT):
        calls = 0

        def calculate(self, *args, **kwargs):
            Breaks.calls += 1
            if Breaks.calls > 3:
                raise RuntimeError("eigenvalue problem failed")
            super().calculate(*args, **kwargs)

    cu = ase.io.read(strained_cu)
    with pytest.raises(ThermognnError, match=r"failed after \d steps \(σ_h .* GPa, volume"):
        relax_structure(cu, Breaks)


def test_study_file_has_relax_and_export_sections():
    from thermognn.studyfile import validate_study

    study = validate_study(
        {
            "study": {"db": "s.db"},
            "relax": {
                "material": "Cu.cif",
                "calculator": "ase.calculators.emt:EMT",
                "calculator_option": {"asap_cutoff": False},
                "out": "Cu-relaxed.extxyz",
                "supercell": "2,2,2",
            },
            "export": {"out": "train.xyz"},
        }
    )
    relax, export = (stage.argv() for stage in study.stages)
    assert relax[0] == "relax" and "--calculator-option=asap_cutoff=false" in relax
    assert export == ["export", "--db=s.db", "--out=train.xyz"]
