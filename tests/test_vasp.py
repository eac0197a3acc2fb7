"""VASP export (POSCAR/INCAR/KPOINTS/POTCAR recipe/SLURM array) and vasprun.xml import."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from ase import Atoms
from ase.io import read

from thermognn.database import StudyDatabase
from thermognn.errors import DatabaseError, LabelError, ThermognnError
from thermognn.labels.vasp import export_vasp, import_vasp, kpoint_band_edges, kpoint_mesh
from thermognn.structures import reference_cell

# Eigenvalues (eV) of the fixture: 2 k-points, 4 bands. Indirect gap: VBM −1.0 at k1,
# CBM 0.5 at k2 → gap 1.5 eV (the direct gaps are 2.5 and 1.7 eV).
EIGENVALUES = np.array([[[-6.0, -1.0, 1.5, 3.0], [-5.5, -1.2, 0.5, 2.5]]])
OCCUPATIONS = np.array([[[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]])
# VASP stress block of vasprun.xml, kB (pressure sign: positive = compressed)
STRESS_KB = np.array([[10.0, 5.0, 0.0], [5.0, 20.0, 0.0], [0.0, 0.0, 30.0]])


def _v(values) -> str:
    return "<v>" + " ".join(f"{x:.8f}" for x in values) + " </v>"


def vasprun_xml(
    atoms: Atoms,
    *,
    e_fr: float,
    e_0: float,
    stress_kb: np.ndarray = STRESS_KB,
    eigenvalues: np.ndarray = EIGENVALUES,
    occupations: np.ndarray = OCCUPATIONS,
    nelm: int = 60,
    n_scsteps: int = 12,
    version: str = "6.4.2",
    efermi: float | None = None,
    with_eigenvalues: bool = True,
) -> str:
    """A minimal vasprun.xml in VASP's real layout (what ``read_vasp_xml`` walks)."""
    species = list(dict.fromkeys(atoms.get_chemical_symbols()))
    n_spins, n_k, _ = eigenvalues.shape
    kpts = [[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]][:n_k]
    cell = "\n".join(_v(v) for v in atoms.cell)
    pos = "\n".join(_v(v) for v in atoms.get_scaled_positions())
    energy = (
        f'<i name="e_fr_energy">{e_fr:.8f}</i><i name="e_wo_entrp">{(e_fr + e_0) / 2:.8f}'
        f'</i><i name="e_0_energy">{e_0:.8f}</i>'
    )
    scstep = f"<scstep><energy>{energy}</energy></scstep>\n" * n_scsteps
    structure = (
        f'<crystal><varray name="basis">{cell}</varray>'
        f'<i name="volume">{atoms.get_volume():.8f}</i></crystal>'
        f'<varray name="positions">{pos}</varray>'
    )
    spins = ""
    for s in range(n_spins):
        ks = ""
        for k in range(n_k):
            rows = "".join(
                f"<r>{e:10.4f} {f:8.4f} </r>" for e, f in zip(eigenvalues[s, k], occupations[s, k])
            )
            ks += f'<set comment="kpoint {k + 1}">{rows}</set>\n'
        spins += f'<set comment="spin {s + 1}">{ks}</set>\n'
    dos = "" if efermi is None else f'<dos><i name="efermi">{efermi:12.8f} </i></dos>'
    eigen = (
        '<eigenvalues><array><dimension dim="1">band</dimension><dimension dim="2">kpoint'
        '</dimension><dimension dim="3">spin</dimension><field>eigene</field><field>occ'
        f"</field><set>{spins}</set></array></eigenvalues>{dos}"
        if with_eigenvalues
        else ""
    )
    atom_rows = "".join(
        f"<rc><c>{sym}</c><c>{species.index(sym) + 1}</c></rc>"
        for sym in atoms.get_chemical_symbols()
    )
    return f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<modeling>
 <generator>
  <i name="program" type="string">vasp </i>
  <i name="version" type="string">{version}  </i>
 </generator>
 <kpoints>
  <generation param="Gamma"><v type="int" name="divisions">2 2 2 </v></generation>
  <varray name="kpointlist">{"".join(_v(k) for k in kpts)}</varray>
  <varray name="weights">{"".join(_v([1.0 / n_k]) for _ in kpts)}</varray>
 </kpoints>
 <parameters>
  <separator name="electronic">
   <i type="int" name="NELM">{nelm}</i>
   <i name="EDIFF">0.000001</i>
  </separator>
 </parameters>
 <atominfo>
  <atoms>{len(atoms)}</atoms>
  <types>{len(species)}</types>
  <array name="atoms">
   <dimension dim="1">ion</dimension>
   <field type="string">element</field>
   <field type="int">atomtype</field>
   <set>{atom_rows}</set>
  </array>
 </atominfo>
 <structure name="initialpos">{structure}</structure>
 <calculation>
  {scstep}
  <structure>{structure}</structure>
  <varray name="forces">{"".join(_v([0.0, 0.0, 0.0]) for _ in atoms)}</varray>
  <varray name="stress">{"".join(_v(r) for r in stress_kb)}</varray>
  <energy>{energy}</energy>
  {eigen}
 </calculation>
 <structure name="finalpos">{structure}</structure>
</modeling>
"""


def _finish(folder, e_per_atom: float, **kwargs) -> None:
    """Pretend VASP ran in ``folder``: a vasprun.xml of its POSCAR."""
    atoms = read(folder / "POSCAR", format="vasp")
    assert isinstance(atoms, Atoms)
    n = len(atoms)
    (folder / "vasprun.xml").write_text(
        vasprun_xml(atoms, e_fr=e_per_atom * n - 0.002, e_0=e_per_atom * n, **kwargs)
    )


@pytest.fixture()
def study(tmp_path):
    """A 5-atom Ag3SBr study: the reference and two displaced configurations."""
    db = StudyDatabase(tmp_path / "s.db", study="vasp-test")
    ref = reference_cell("Ag3SBr", (1, 1, 1))
    rid = db.add_reference(ref, "Ag3SBr", supercell=(1, 1, 1))
    rng = np.random.default_rng(0)
    for i in range(2):
        u = rng.uniform(-0.1, 0.1, (len(ref), 3))
        at = ref.copy()
        at.positions += u
        db.add_configuration(
            at,
            u,
            {
                "material": "Ag3SBr",
                "scheme": "random",
                "parent_id": rid,
                "amplitude": 0.1,
                "seed": 0,
                "config_index": i,
                "supercell": (1, 1, 1),
            },
        )
    return db


def test_kpoint_mesh_scales_the_papers_12x12x12():
    ref = reference_cell("Ag3SBr", (2, 2, 2))
    assert kpoint_mesh(ref, "2x2x2") == (6, 6, 6)
    assert kpoint_mesh(ref, "1x1x3") == (12, 12, 4)
    assert kpoint_mesh(ref) == (6, 6, 6)  # same density from the lattice lengths


def test_export_writes_runnable_folders(study, tmp_path):
    out = tmp_path / "vasp"
    folders = export_vasp(study, out, incar={"encut": 650, "LREAL": None})
    ids = study.unlabeled_ids()
    assert [f.name for f in folders] == [f"row-{i}" for i in ids]
    for folder, row_id in zip(folders, ids):
        row = study.ase.get(id=row_id)
        for name in ("POSCAR", "INCAR", "KPOINTS", "POTCAR.recipe", "row.json"):
            assert (folder / name).is_file()
        poscar = read(folder / "POSCAR", format="vasp")
        record = json.loads((folder / "row.json").read_text())
        assert record["unique_id"] == row.unique_id and record["study"] == "vasp-test"
        original = row.toatoms()[record["order"]]
        assert list(poscar.symbols) == sorted(original.get_chemical_symbols())
        np.testing.assert_allclose(poscar.positions, original.positions, atol=1e-8)
        np.testing.assert_allclose(poscar.cell.array, original.cell.array, atol=1e-8)
        species = [
            line.split()[0]
            for line in (folder / "POTCAR.recipe").read_text().splitlines()
            if line and not line.startswith("#")
        ]
        assert species == ["Ag", "Br", "S"] == list(dict.fromkeys(poscar.symbols))
        incar = (folder / "INCAR").read_text()
        for line in (
            "GGA = PS",
            "ENCUT = 650",
            "ISMEAR = 0",
            "SIGMA = 0.01",
            "ISIF = 2",
            "NSW = 0",
            "EDIFF = 1E-06",
        ):
            assert line in incar.splitlines()
        assert "LREAL" not in incar
        assert (folder / "KPOINTS").read_text().splitlines()[2:4] == ["Gamma", "12 12 12"]
    assert (out / "folders.txt").read_text().split() == [f.name for f in folders]
    script = (out / "submit.slurm").read_text()
    assert f"#SBATCH --array=0-{len(ids) - 1}" in script and "srun vasp_std" in script
    assert subprocess.run(["bash", "-n", str(out / "submit.slurm")]).returncode == 0


def test_export_is_idempotent_and_refuses_foreign_folders(study, tmp_path):
    out = tmp_path / "vasp"
    first = export_vasp(study, out)
    marker = first[0] / "INCAR"
    marker.write_text("edited by hand\n")
    assert export_vasp(study, out, incar={"ENCUT": 500}) == first
    assert marker.read_text() == "edited by hand\n"  # kept, not rewritten
    other = StudyDatabase(tmp_path / "other.db", study="vasp-test")
    other.add_reference(reference_cell("Ag3SI", (1, 1, 1)), "Ag3SI")
    with pytest.raises(DatabaseError, match=r"row-1: holds row 1 .* of another database"):
        export_vasp(other, out)


def test_slurm_array_task_assembles_potcar_and_runs_in_its_folder(study, tmp_path):
    out = tmp_path / "vasp"
    folders = export_vasp(study, out, vasp_command="srun vasp_std")
    pp = tmp_path / "pp"
    for el in ("Ag", "Br", "S"):
        (pp / "potpaw_PBE" / el).mkdir(parents=True)
        (pp / "potpaw_PBE" / el / "POTCAR").write_text(f"PAW_PBE {el}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text('#!/bin/bash\necho "$@" > ran.txt\n')
    (bin_dir / "srun").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SLURM_ARRAY_TASK_ID": "1",
        "SLURM_SUBMIT_DIR": str(out),
        "VASP_PP_PATH": str(pp),
    }
    subprocess.run(["bash", str(out / "submit.slurm")], env=env, check=True)
    assert (folders[1] / "POTCAR").read_text() == "PAW_PBE Ag\nPAW_PBE Br\nPAW_PBE S\n"
    assert (folders[1] / "ran.txt").read_text().strip() == "vasp_std"
    assert not (folders[0] / "ran.txt").exists()
    _finish(folders[1], -3.0)  # a complete vasprun.xml: the task exits without running VASP
    (folders[1] / "ran.txt").unlink()
    subprocess.run(["bash", str(out / "submit.slurm")], env=env, check=True)
    assert not (folders[1] / "ran.txt").exists()


def test_import_labels_rows_from_vasprun(study, tmp_path):
    out = tmp_path / "vasp"
    folders = export_vasp(study, out)
    ids = [int(f.name.split("-")[1]) for f in folders]
    _finish(folders[0], -3.25)
    spin_polarised = np.concatenate([EIGENVALUES, EIGENVALUES + 0.25])  # spin 2 higher
    _finish(
        folders[1], -3.5, eigenvalues=spin_polarised, occupations=np.tile(OCCUPATIONS, (2, 1, 1))
    )
    summary = import_vasp(study, out)
    assert summary.imported == ids[:2] and summary.missing == {ids[2]: folders[2]}
    row = study.ase.get(id=ids[0])
    assert row.labeled and row.labeler == "vasp-pbesol" and row.labeler_version == "vasp-6.4.2"
    assert row.energy_per_atom == pytest.approx(-3.25)  # energy(σ→0), not the free energy
    assert row.band_gap == pytest.approx(1.5) and row.vbm == pytest.approx(-1.0)
    # VASP +10/+20/+30 kB (compressed) → ASE sign: σ = −1/−2/−3 GPa, σ_h = −2 GPa
    assert row.hydrostatic_stress == pytest.approx(-2.0)
    np.testing.assert_allclose(row.data["stress"], [-1.0, -2.0, -3.0, 0.0, 0.0, -0.5], atol=1e-9)
    assert row.data["eigenvalues"].shape == (1, 2, 4)
    polarised = study.ase.get(id=ids[1])  # VBM in spin 2 at k1, CBM in spin 1 at k2
    assert polarised.vbm == pytest.approx(-0.75) and polarised.band_gap == pytest.approx(1.25)
    assert polarised.energy_per_atom == pytest.approx(-3.5)
    assert polarised.data["eigenvalues"].shape == (2, 2, 4)
    assert not study.ase.get(id=ids[2]).labeled  # missing vasprun: row untouched
    assert "label_error" not in study.ase.get(id=ids[2]).key_value_pairs
    again = import_vasp(study, out)
    assert again.skipped == ids[:2] and not again.imported


def test_spin_polarised_gap_over_both_spins():
    eps = np.array([[[-1.0, 0.8]], [[-0.6, 1.2]]])
    occ = np.array([[[1.0, 0.0]], [[1.0, 0.0]]])
    assert kpoint_band_edges(eps, occ) == pytest.approx((-0.6, 1.4))
    metal = np.array([[[-1.0, 0.2], [0.1, 0.9]]])  # band crossing: CBM below VBM
    assert kpoint_band_edges(metal, np.array([[[1, 1], [0, 0]]]))[1] == 0.0


def test_corrupt_unconverged_and_foreign_runs(study, tmp_path):
    out = tmp_path / "vasp"
    folders = export_vasp(study, out)
    ids = [int(f.name.split("-")[1]) for f in folders]
    _finish(folders[0], -3.0)
    text = (folders[0] / "vasprun.xml").read_text()
    (folders[0] / "vasprun.xml").write_text(text[: len(text) // 2])  # killed mid-write
    _finish(folders[1], -3.0, nelm=12, n_scsteps=12)
    _finish(folders[2], -3.0)
    summary = import_vasp(study, out)
    assert summary.imported == [ids[2]] and set(summary.failed) == set(ids[:2])
    row = study.ase.get(id=ids[0])
    assert not row.labeled and str(folders[0] / "vasprun.xml") in row.label_error
    assert "truncated or malformed" in row.label_error
    assert "not converged (NELM = 12" in study.ase.get(id=ids[1]).label_error
    # a vasprun.xml of another configuration is refused
    shutil.copy(folders[2] / "vasprun.xml", folders[1] / "vasprun.xml")
    again = import_vasp(study, out)
    assert "final structure differs from row" in again.failed[ids[1]]


def test_missing_runs_and_foreign_databases_are_clear_errors(study, tmp_path):
    out = tmp_path / "vasp"
    folders = export_vasp(study, out)
    with pytest.raises(LabelError, match="no vasprun.xml in any of the 3 exported folders"):
        import_vasp(study, out)
    with pytest.raises(LabelError, match=r"row-\d+: no vasprun.xml"):
        import_vasp(study, folders[0])
    other = StudyDatabase(tmp_path / "other.db", study="vasp-test")
    for name in ("A", "B", "C"):
        other.add_reference(reference_cell("Ag3SBr", (1, 1, 1)), name)
    _finish(folders[0], -3.0)
    with pytest.raises(DatabaseError, match=r"row-\d+: exported from another database"):
        import_vasp(other, out)
    assert not any(r.labeled for r in other.select())  # refused before writing anything
    foreign_study = StudyDatabase(tmp_path / "third.db", study="elsewhere")
    with pytest.raises(DatabaseError, match="exported from study 'vasp-test', not 'elsewhere'"):
        import_vasp(foreign_study, out)
    with pytest.raises(ThermognnError, match="no exported VASP folders"):
        import_vasp(study, tmp_path)


def test_cli_export_and_import(study, tmp_path, capsys):
    from thermognn.cli.main import main

    out = tmp_path / "cli"
    toml = tmp_path / "study.toml"
    toml.write_text('[vasp.export]\nincar = {ALGO = "Fast"}\npotcar = {Ag = "Ag_pv"}\n')
    argv = ["vasp", "export", "--db", study.url, "--out", str(out), "--encut", "600"]
    argv += ["--query", "scheme=random", "--kpoints", "4", "--config", str(toml)]
    assert main(argv) == 0
    folders = sorted(out.glob("row-*"))
    assert len(folders) == 2
    incar = (folders[0] / "INCAR").read_text().splitlines()
    assert "ENCUT = 600" in incar and "ALGO = Fast" in incar
    assert "Ag potpaw_PBE/Ag_pv/POTCAR" in (folders[0] / "POTCAR.recipe").read_text()
    assert "4 4 4" in (folders[0] / "KPOINTS").read_text()
    for f in folders:
        _finish(f, -3.0)
    assert main(["vasp", "import", "--db", study.url, "--dir", str(out)]) == 0
    assert "2 imported" in capsys.readouterr().out
    assert main(["vasp", "import", "--db", study.url, "--dir", str(tmp_path / "nowhere")]) == 2
    assert "no such export folder" in capsys.readouterr().err


def test_gap_and_vbm_from_the_fermi_level():
    from thermognn.labels.vasprun import fermi_band_edges

    assert fermi_band_edges(EIGENVALUES, -0.8) == pytest.approx((-1.0, 1.5))
    # a smeared metal: band 2 crosses E_F (−0.1 at k1, 0.2 at k2); the ½-occupation rule
    # would open a fictitious 0.3 eV gap
    metal = np.array([[[-6.0, -0.1, 0.3, 3.0], [-5.5, 0.2, 0.6, 2.5]]])
    smeared = np.array([[[1.0, 0.9, 0.1, 0.0], [1.0, 0.4, 0.0, 0.0]]])
    assert kpoint_band_edges(metal, smeared) == pytest.approx((-0.1, 0.3))
    assert fermi_band_edges(metal, 0.1) == pytest.approx((0.1, 0.0))
    with pytest.raises(ValueError, match="no level above the Fermi level"):
        fermi_band_edges(EIGENVALUES, 5.0)


def test_import_reads_the_fermi_level_and_reports_missing_labels(study, tmp_path, capsys):
    from thermognn.cli.main import main

    out = tmp_path / "vasp"
    folders = export_vasp(study, out)
    ids = [int(f.name.split("-")[1]) for f in folders]
    metal = np.array([[[-6.0, -0.1, 0.3, 3.0], [-5.5, 0.2, 0.6, 2.5]]])
    smeared = np.array([[[1.0, 0.9, 0.1, 0.0], [1.0, 0.4, 0.0, 0.0]]])
    _finish(folders[0], -3.0, eigenvalues=metal, occupations=smeared, efermi=0.1)
    _finish(folders[1], -3.0, efermi=-0.8)
    _finish(folders[2], -3.0, with_eigenvalues=False)
    assert main(["vasp", "import", "--db", study.url, "--dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 imported, 1 lacking labels" in printed
    assert f"row {ids[2]}: " in printed and "no <eigenvalues>; band_gap, vbm not labeled" in printed
    row = study.ase.get(id=ids[0])
    assert row.band_gap == 0.0 and row.vbm == pytest.approx(0.1)  # a metal by E_F
    assert study.ase.get(id=ids[1]).band_gap == pytest.approx(1.5)
    bare = study.ase.get(id=ids[2])
    assert bare.labeled and "band_gap" not in bare.key_value_pairs


def test_import_exit_status_partial_and_total_failure(study, tmp_path, capsys):
    import hashlib

    from thermognn.cli.main import main

    out = tmp_path / "vasp"
    folders = export_vasp(study, out)
    for folder in folders:
        _finish(folder, -3.0, nelm=12, n_scsteps=12)  # every run stopped at NELM
    before = hashlib.sha256((tmp_path / "s.db").read_bytes()).hexdigest()
    assert main(["vasp", "import", "--db", study.url, "--dir", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "all 3 VASP runs failed, nothing imported" in err[0]
    assert hashlib.sha256((tmp_path / "s.db").read_bytes()).hexdigest() == before
    _finish(folders[0], -3.0)
    assert main(["vasp", "import", "--db", study.url, "--dir", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "1 imported, 2 failed" in printed and "not converged" in printed
    assert sum(1 for r in study.select("label_error")) == 2
