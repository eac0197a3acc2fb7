from __future__ import annotations

import numpy as np
import pytest
from ase.io import write

from thermognn.errors import StructureError
from thermognn.structures import (
    LATTICE_CONSTANTS,
    antiperovskite,
    parse_material,
    read_structure,
    reference_cell,
    resolve_material,
)
from thermognn.structures.prototypes import vegard_lattice_constant


def test_cubic_antiperovskite_sites():
    at = antiperovskite("Br")
    assert at.get_chemical_symbols() == ["Br", "S", "Ag", "Ag", "Ag"]
    np.testing.assert_allclose(at.cell.lengths(), [4.793] * 3)
    frac = at.get_scaled_positions()
    np.testing.assert_allclose(frac[0], [0, 0, 0])
    np.testing.assert_allclose(frac[1], [0.5, 0.5, 0.5])
    # Ag at the three face centres: each Ag–S distance is a/2 (octahedron around S)
    d = np.linalg.norm(at.positions[2:] - at.positions[1], axis=1)
    np.testing.assert_allclose(d, 4.793 / 2)
    assert reference_cell("Ag3SI").cell.lengths()[0] == pytest.approx(2 * 4.869)
    assert len(reference_cell("Ag3SBr")) == 40


def test_solid_solution_fraction_vegard_and_seed():
    a = reference_cell("Ag3SBr0.25I", (2, 2, 2), seed=3)
    sym = np.array(a.get_chemical_symbols())
    assert (sym == "Br").sum() == 2 and (sym == "I").sum() == 6
    expected = 2 * (0.25 * LATTICE_CONSTANTS["Ag3SBr"] + 0.75 * LATTICE_CONSTANTS["Ag3SI"])
    assert a.cell.lengths()[0] == pytest.approx(expected)
    b = reference_cell("Ag3SBr0.25I", (2, 2, 2), seed=3)
    c = reference_cell("Ag3SBr0.25I", (2, 2, 2), seed=4)
    assert a.get_chemical_symbols() == b.get_chemical_symbols()
    assert any(
        reference_cell("Ag3SBr0.5I", seed=s).get_chemical_symbols()
        != reference_cell("Ag3SBr0.5I", seed=0).get_chemical_symbols()
        for s in range(1, 6)
    )
    del c
    assert vegard_lattice_constant(1.0) == LATTICE_CONSTANTS["Ag3SBr"]
    assert parse_material("Ag3SBr_xI_(1-x)").br_fraction is None
    assert parse_material("NaCl") is None


def test_read_structure_roundtrip_and_errors(tmp_path):
    poscar = tmp_path / "POSCAR"
    write(poscar, antiperovskite("I"), format="vasp")
    at = read_structure(poscar)
    assert at.get_chemical_formula() == antiperovskite("I").get_chemical_formula()
    assert len(resolve_material(str(poscar), (2, 1, 1))) == 10

    with pytest.raises(StructureError, match="no such file"):
        read_structure(tmp_path / "missing.cif")
    empty = tmp_path / "empty.cif"
    empty.write_text("")
    with pytest.raises(StructureError, match="empty.cif: file is empty"):
        read_structure(empty)
    junk = tmp_path / "junk.xyz"
    junk.write_text("this is not\na structure\n")
    with pytest.raises(StructureError, match="junk.xyz: cannot read"):
        read_structure(junk)
    close = antiperovskite("Br")
    close.positions[1] = close.positions[0] + [0.3, 0, 0]
    bad = tmp_path / "close.extxyz"
    write(bad, close)
    with pytest.raises(
        StructureError, match=r"close.extxyz: atoms 0 \(Br\) and 1 \(S\) are 0.300 Å"
    ):
        read_structure(bad)
    with pytest.raises(StructureError, match="neither a built-in"):
        resolve_material("Ag3SeCl")


def test_one_reader_names_frames_and_never_drops_occupancies_or_constraints(tmp_path):
    from ase import Atoms

    from thermognn.structures import read_structures

    good = antiperovskite("Br")
    close = good.copy()
    close.positions[1] = close.positions[0] + [0.1, 0, 0]
    frames = tmp_path / "frames.extxyz"
    write(frames, [good, good])
    assert len(read_structures(frames)) == 2
    write(frames, [good, close])
    with pytest.raises(StructureError, match=r"frames.extxyz@1: atoms 0 \(Br\) and 1 \(S\)"):
        read_structures(frames)
    assert len(read_structures(frames, index=0)) == 1

    fixed = Atoms("CuAu", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[4, 4, 4], pbc=True)
    from ase.constraints import FixAtoms

    fixed.set_constraint(FixAtoms(indices=[0]))
    poscar = tmp_path / "POSCAR"
    write(poscar, fixed, format="vasp")
    assert read_structure(poscar).constraints  # kept (predict: harmless)
    with pytest.raises(StructureError, match=r"POSCAR: has constraints \(FixAtoms on atoms 0\)"):
        resolve_material(str(poscar), (1, 1, 1))  # sampling would move the fixed atom
    released = resolve_material(str(poscar), (2, 1, 1), constraints="release")
    assert not released.constraints and released.info["released"] == "FixAtoms on atoms 0"

    cif = tmp_path / "mixed.cif"
    cif.write_text(
        "data_m\n_cell_length_a 5\n_cell_length_b 5\n_cell_length_c 5\n_cell_angle_alpha 90\n"
        "_cell_angle_beta 90\n_cell_angle_gamma 90\n_symmetry_space_group_name_H-M 'P 1'\n"
        "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
        "_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n"
        "Zn1 Zn 0 0 0 0.6\nFe1 Fe 0 0 0 0.4\nO1 O 0.5 0.5 0.5 1.0\n"
    )
    with pytest.raises(
        StructureError, match=r"mixed.cif: partial occupancies on atoms 0 \(Zn 0.6, Fe 0.4\)"
    ):
        read_structure(cif)
    ordered = read_structure(cif, partial="majority")
    assert ordered.get_chemical_formula() == "OZn" and "Zn 0.6, Fe 0.4" in ordered.info["ordering"]
