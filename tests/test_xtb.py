"""GFN1-xTB labels through tblite: symmetry, finite differences, errors."""

from __future__ import annotations

import numpy as np
import pytest
from ase.units import GPa

from thermognn.errors import LabelError, ThermognnError
from thermognn.labels import band_edges, get_labeler
from thermognn.labels.xtb import XTBCalculator, gfn1_without_halogen_bond, xtb_singlepoint
from thermognn.structures import reference_cell


@pytest.fixture(scope="module")
def cell5():
    return reference_cell("Ag3SBr", (1, 1, 1))


def test_halogen_bond_term_removed_gives_symmetric_forces(cell5):
    """Stock GFN1 gives huge forces on the perfect cubic cell (XB not periodic-aware)."""
    at = cell5.copy()
    at.calc = XTBCalculator("gfn1-xtb")
    assert np.abs(at.get_forces()).max() < 1e-4
    assert "halogen" not in gfn1_without_halogen_bond()

    from ase.units import Bohr
    from tblite.interface import Calculator

    stock = Calculator(
        "GFN1-xTB",
        at.numbers,
        at.positions / Bohr,
        lattice=at.cell / Bohr,
        periodic=np.array([True] * 3),
        logger=lambda _m: None,
    )
    stock.set("verbosity", 0)
    grad = stock.singlepoint().get("gradient")
    assert np.abs(grad).max() * 51.42 > 1.0  # Hartree/Bohr → eV/Å: large spurious force


def test_labels_of_perfect_cell(cell5):
    lab = get_labeler("gfn1-xtb").label(cell5)
    assert lab.band_gap == pytest.approx(2.154, abs=0.02)  # 5-atom cell at Γ (DESIGN §5)
    assert lab.vbm < 0
    assert lab.hydrostatic_stress == pytest.approx(np.mean(lab.stress[:3]))
    np.testing.assert_allclose(lab.stress[3:], 0.0, atol=1e-6)  # cubic: no shear
    assert lab.eigenvalues is not None and lab.occupations.sum() > 0


def test_stress_matches_finite_difference_of_energy(cell5):
    """σ_xx = (1/V) dE/dε_xx with ASE's sign: checks units and sign of the virial."""
    calc = XTBCalculator("gfn1-xtb")
    h = 0.002
    energies = []
    for eps in (-h, h):
        at = cell5.copy()
        strain = np.eye(3)
        strain[0, 0] += eps
        at.set_cell(at.cell @ strain, scale_atoms=True)
        at.calc = calc
        energies.append(at.get_potential_energy())
    fd = (energies[1] - energies[0]) / (2 * h) / cell5.get_volume() / GPa
    at = cell5.copy()
    at.calc = calc
    analytic = at.get_stress()[0] / GPa
    assert analytic == pytest.approx(fd, rel=0.02, abs=0.05)


def test_gap_falls_with_displacement(cell5):
    lab = get_labeler("gfn1-xtb")
    rng = np.random.default_rng(0)
    at = cell5.repeat((2, 1, 1))
    perfect = lab.label(at).band_gap
    at.positions += rng.uniform(-0.3, 0.3, at.positions.shape)
    assert lab.label(at).band_gap < perfect


def test_scf_failure_and_unknown_element_are_label_errors(cell5):
    with pytest.raises(LabelError, match="gfn1-xtb failed"):
        xtb_singlepoint(cell5, max_iterations=1)
    at = cell5.copy()
    at.numbers[0] = 94  # Pu: outside GFN1's H–Rn parametrisation
    with pytest.raises(LabelError, match="Pu"):
        get_labeler("gfn1-xtb").label(at)
    with pytest.raises(ThermognnError, match="unknown labeler 'gfn3-xtb'"):
        get_labeler("gfn3-xtb")


def test_band_edges():
    eps = np.array([-3.0, -1.0, 0.5, 2.0])
    occ = np.array([2.0, 2.0, 0.0, 0.0])
    assert band_edges(eps, occ) == (-1.0, 1.5)
    # order-independent, fractional smearing
    assert band_edges(eps[::-1], np.array([0.0, 1e-9, 1.999, 2.0])) == (-1.0, 1.5)
