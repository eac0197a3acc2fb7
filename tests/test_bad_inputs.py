"""Bad inputs across every command: exit code 2, one line naming the problem, nothing written.

Each case builds its inputs in a fresh folder, runs the CLI in-process, and checks that
the command was refused with exactly one error line (``thermognn CMD: error: …``) that
names the file, row or field at fault, that no traceback was printed, and that no file
was created or changed in that folder, in the shared study database's folder or in the
shared run folder (sizes, modification times and SHA-256 of every file).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import write

from thermognn.cli.main import main
from thermognn.structures import reference_cell

Case = Callable[[Path, Any], tuple[list[str], str]]

PARTIAL_CIF = """data_mixed
_cell_length_a 5.0
_cell_length_b 5.0
_cell_length_c 5.0
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Zn1 Zn 0 0 0 0.5
Fe1 Fe 0 0 0 0.3
Pb1 Pb 0 0 0 0.2
O1 O 0.5 0.5 0.5 1.0
"""

SELECTIVE_POSCAR = """Cu Au with fixed atoms
1.0
4 0 0
0 4 0
0 0 4
Cu Au
1 1
Selective dynamics
Direct
0 0 0 F F F
0.5 0.5 0.5 T T T
"""


# ---------------------------------------------------------------------- input builders
def _file(tmp: Path, name: str, text: str | bytes = "") -> str:
    path = tmp / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def _structure(tmp: Path, name: str, atoms: Atoms | list[Atoms], **kw: Any) -> str:
    write(tmp / name, atoms, **kw)
    return str(tmp / name)


def _overlapping() -> Atoms:
    atoms = reference_cell("Ag3SBr", (1, 1, 1))
    atoms.positions[1] = atoms.positions[0]
    return atoms


def _plain_sqlite(tmp: Path) -> str:
    path = tmp / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (text TEXT)")
    con.commit()
    con.close()
    return str(path)


def _foreign_schema(tmp: Path) -> str:
    import ase.db

    path = tmp / "foreign.db"
    with ase.db.connect(path) as db:
        db.write(reference_cell("Ag3SBr", (1, 1, 1)))
    db.metadata = {"schema": "somebody-else-2"}
    return str(path)


def _copied_db(tmp: Path, ctx: Any) -> str:
    shutil.copy(ctx.db, tmp / "s.db")
    return str(tmp / "s.db")


def _edited_run(tmp: Path, ctx: Any, edit: Callable[[dict[str, Any]], None]) -> str:
    run = tmp / "run"
    shutil.copytree(ctx.run, run)
    record = json.loads((run / "model.json").read_text())
    edit(record)
    (run / "model.json").write_text(json.dumps(record))
    return str(run)


def _two_labels(record: dict[str, Any]) -> None:
    record["labels"] = ["band_gap", "vbm"]
    record["units"] = {"band_gap": "eV", "vbm": "eV"}


def _vasp_all_failed(tmp: Path, ctx: Any) -> tuple[list[str], str]:
    from thermognn.database import StudyDatabase
    from thermognn.labels.vasp import export_vasp

    db = StudyDatabase(tmp / "v.db", study="v")
    ref = reference_cell("Ag3SBr", (1, 1, 1))
    rid = db.add_reference(ref, "Ag3SBr", supercell=(1, 1, 1))
    db.add_configuration(
        ref, np.zeros((5, 3)), {"material": "Ag3SBr", "scheme": "random", "parent_id": rid}
    )
    for folder in export_vasp(db, tmp / "vasp"):
        (folder / "vasprun.xml").write_text("<?xml version='1.0'?><modeling><calculation>")
    return ["vasp", "import", "--db", db.url, "--dir", str(tmp / "vasp")], "VASP runs failed"


def _predict(*files: str, run: str | None = None) -> Callable[[Path, Any], list[str]]:
    return lambda tmp, ctx: ["predict", run or str(ctx.run), *files, "--out", str(tmp / "p.csv")]


def _predict_edited(tmp: Path, ctx: Any, edit: Callable[[dict[str, Any]], None]) -> list[str]:
    """``predict`` of the 5-atom cell with a copy of the tiny run whose record ``edit`` changed."""
    cell = _structure(tmp, "a.extxyz", reference_cell("Ag3SBr", (1, 1, 1)))
    return _predict(cell, run=_edited_run(tmp, ctx, edit))(tmp, ctx)


SAMPLE = ["--scheme", "random", "--n", "2", "--supercell", "1", "--seed", "1"]


def _sample(tmp: Path, material: str, *extra: str, db: str | None = None) -> list[str]:
    return ["sample", "--db", db or str(tmp / "new.db"), "--material", material, *SAMPLE, *extra]


def _train(db: str, tmp: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--db",
        db,
        "--label",
        "band_gap",
        "--out",
        str(tmp / "run"),
        "--epochs",
        "1",
        *extra,
    ]


# ---------------------------------------------------------------------- the table
CASES: dict[str, Case] = {
    # structure files, read by predict
    "predict-empty-cif": lambda t, c: (_predict(_file(t, "e.cif"))(t, c), "e.cif: file is empty"),
    "predict-empty-xyz": lambda t, c: (_predict(_file(t, "e.xyz"))(t, c), "e.xyz: file is empty"),
    "predict-text-as-cif": lambda t, c: (
        _predict(_file(t, "r.cif", "random text\nnot a crystal\n"))(t, c),
        "r.cif: cannot read a structure",
    ),
    "predict-text-as-vasp": lambda t, c: (
        [*_predict(_file(t, "notes.txt", "hello\nworld\n"))(t, c), "--format", "vasp"],
        "notes.txt: cannot read a structure as vasp",
    ),
    "predict-binary-junk": lambda t, c: (
        _predict(_file(t, "junk.extxyz", bytes(range(256)) * 4))(t, c),
        "junk.extxyz: cannot read a structure",
    ),
    "predict-missing-file": lambda t, c: (
        _predict(str(t / "nope.cif"))(t, c),
        "nope.cif: no such file",
    ),
    "predict-a-folder": lambda t, c: (_predict(str(t))(t, c), "no such file"),
    "predict-overlapping-atoms": lambda t, c: (
        _predict(_structure(t, "o.extxyz", _overlapping()))(t, c),
        "o.extxyz: atoms 0 (Br) and 1 (S) are 0.000 Å apart",
    ),
    "predict-second-frame-overlaps": lambda t, c: (
        _predict(_structure(t, "f.extxyz", [reference_cell("Ag3SBr", (1, 1, 1)), _overlapping()]))(
            t, c
        ),
        "f.extxyz@1: atoms 0 (Br) and 1 (S)",
    ),
    "predict-molecule": lambda t, c: (
        _predict(_structure(t, "m.xyz", Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])))(t, c),
        "m.xyz: needs a periodic 3D cell",
    ),
    "predict-unknown-element": lambda t, c: (
        _predict(
            _file(
                t,
                "x.extxyz",
                '2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
                "X 0 0 0\nCu 2 2 2\n",
            )
        )(t, c),
        "x.extxyz: unknown element (atomic number 0) on atom 0",
    ),
    "predict-partial-occupancy": lambda t, c: (
        _predict(_file(t, "mixed.cif", PARTIAL_CIF))(t, c),
        "mixed.cif: partial occupancies on atoms 0",
    ),
    # reference crystals, read by sample and phonons (the database is never created)
    "sample-unknown-material": lambda t, c: (_sample(t, "Ag3SeCl"), "Ag3SeCl: neither a built-in"),
    "sample-unreadable-poscar": lambda t, c: (
        _sample(t, _file(t, "POSCAR", "not\na\nposcar\n")),
        "POSCAR: cannot read a structure",
    ),
    "sample-empty-poscar": lambda t, c: (_sample(t, _file(t, "POSCAR")), "POSCAR: file is empty"),
    "sample-selective-dynamics": lambda t, c: (
        _sample(t, _file(t, "POSCAR", SELECTIVE_POSCAR)),
        "POSCAR: has constraints (FixAtoms on atoms 0)",
    ),
    "sample-partial-occupancy": lambda t, c: (
        _sample(t, _file(t, "mixed.cif", PARTIAL_CIF)),
        "mixed.cif: partial occupancies",
    ),
    "sample-unknown-material-existing-db": lambda t, c: (
        _sample(t, "Ag3SeCl", db=_copied_db(t, c)),
        "Ag3SeCl: neither a built-in",
    ),
    "sample-missing-phonons": lambda t, c: (
        ["sample", "--db", str(t / "new.db"), "--material", "Ag3SBr", "--scheme", "phonon"]
        + ["--n", "2", "--supercell", "1", "--phonons", str(t / "nowhere")],
        "no such phonopy file",
    ),
    "sample-unknown-scheme": lambda t, c: (
        [
            "sample",
            "--db",
            str(t / "new.db"),
            "--material",
            "Ag3SBr",
            "--scheme",
            "wiggle",
            "--n",
            "2",
        ],
        "scheme: unknown",
    ),
    "sample-negative-n": lambda t, c: (
        [
            "sample",
            "--db",
            str(t / "new.db"),
            "--material",
            "Ag3SBr",
            "--scheme",
            "random",
            "--n",
            "-1",
        ],
        "n: must be ≥ 0",
    ),
    "sample-unknown-calculator": lambda t, c: (
        ["sample", "--db", str(t / "new.db"), "--material", "Ag3SBr", "--scheme", "phonon"]
        + ["--n", "2", "--calculator", "magic"],
        "calculator: unknown labeler 'magic'",
    ),
    "sample-into-text-file": lambda t, c: (
        _sample(t, "Ag3SBr", db=_file(t, "notes.db", "my notes")),
        "notes.db: not an SQLite database",
    ),
    "sample-into-empty-file": lambda t, c: (
        _sample(t, "Ag3SBr", db=_file(t, "zero.db")),
        "zero.db: empty file (0 bytes)",
    ),
    "sample-into-another-study": lambda t, c: (
        [*_sample(t, "Ag3SBr", db=_copied_db(t, c)), "--study", "elsewhere"],
        "belongs to study 'tiny', not 'elsewhere'",
    ),
    "phonons-unreadable-material": lambda t, c: (
        [
            "phonons",
            "--material",
            _file(t, "bad.cif", "junk\n"),
            "--calculator",
            "emt",
            "--out",
            str(t / "ph"),
        ],
        "bad.cif: cannot read a structure",
    ),
    # study databases, read by every command
    "train-db-text-file": lambda t, c: (
        _train(_file(t, "notes.db", "hello"), t),
        "notes.db: not an SQLite database",
    ),
    "train-db-empty-file": lambda t, c: (
        _train(_file(t, "zero.db"), t),
        "zero.db: empty file (0 bytes)",
    ),
    "train-db-missing": lambda t, c: (
        _train(str(t / "none.db"), t),
        "none.db: no such study database",
    ),
    "train-db-not-ase": lambda t, c: (
        _train(_plain_sqlite(t), t),
        "other.sqlite: an SQLite file but not an ASE database",
    ),
    "train-db-foreign-schema": lambda t, c: (
        _train(_foreign_schema(t), t),
        "schema 'somebody-else-2'",
    ),
    "evaluate-db-text-file": lambda t, c: (
        ["evaluate", str(c.run), "--db", _file(t, "notes.db", "hello"), "--out", str(t / "ev")],
        "notes.db: not an SQLite database",
    ),
    "evaluate-db-empty-file": lambda t, c: (
        ["evaluate", str(c.run), "--db", _file(t, "zero.db"), "--out", str(t / "ev")],
        "zero.db: empty file (0 bytes)",
    ),
    "predict-db-text-file": lambda t, c: (
        [*_predict()(t, c), "--db", _file(t, "notes.db", "hello")],
        "notes.db: not an SQLite database",
    ),
    "predict-db-missing": lambda t, c: (
        [*_predict()(t, c), "--db", str(t / "none.db")],
        "none.db: no such study database",
    ),
    "db-info-text-file": lambda t, c: (
        ["db-info", _file(t, "notes.db", "hi")],
        "notes.db: not an SQLite database",
    ),
    "db-info-empty-file": lambda t, c: (
        ["db-info", _file(t, "zero.db")],
        "zero.db: empty file (0 bytes)",
    ),
    "label-db-missing": lambda t, c: (
        ["label", "--db", str(t / "none.db"), "--workers", "0"],
        "none.db: no such study database",
    ),
    "label-db-text-file": lambda t, c: (
        ["label", "--db", _file(t, "n.db", "x"), "--workers", "0"],
        "n.db: not an SQLite",
    ),
    "label-another-study": lambda t, c: (
        ["label", "--db", _copied_db(t, c), "--study", "other", "--workers", "0"],
        "belongs to study 'tiny', not 'other'",
    ),
    "label-unknown-labeler": lambda t, c: (
        ["label", "--db", _copied_db(t, c), "--labeler", "dft-magic", "--workers", "0"],
        "unknown labeler 'dft-magic'",
    ),
    "vasp-export-empty-db": lambda t, c: (
        ["vasp", "export", "--db", _file(t, "zero.db"), "--out", str(t / "vasp")],
        "zero.db: empty file (0 bytes)",
    ),
    "vasp-import-every-run-failed": _vasp_all_failed,
    # training settings refused before a graph is cached or a folder made
    "train-cutoff-without-edges": lambda t, c: (
        _train(_copied_db(t, c), t, "--cutoff", "0.1"),
        "cutoff 0.1 Å: no two atoms of rows 1, 2",
    ),
    "train-unknown-model": lambda t, c: (
        _train(_copied_db(t, c), t, "--model", "paper-9"),
        "paper-9",
    ),
    "train-unknown-label": lambda t, c: (
        ["train", "--db", _copied_db(t, c), "--label", "colour", "--out", str(t / "run")],
        "colour",
    ),
    "train-into-a-run": lambda t, c: (
        ["train", "--db", _copied_db(t, c), "--label", "band_gap", "--out", str(c.run)],
        "already holds a run",
    ),
    # run folders: the record is cross-checked against itself and the weights
    "predict-record-cutoff-3": lambda t, c: (
        _predict_edited(t, c, lambda r: r.update(cutoff=3.0)),
        "cutoff 3.0 Å disagrees with training.cutoff 5.5 Å",
    ),
    "predict-record-cutoff-0": lambda t, c: (
        _predict_edited(t, c, lambda r: r.update(cutoff=0)),
        "cutoff 0.0 Å is not a positive distance",
    ),
    "predict-two-labels-one-output": lambda t, c: (
        _predict_edited(t, c, _two_labels),
        "2 labels ['band_gap', 'vbm'], but hparams.n_targets has 1 outputs",
    ),
    "predict-labels-without-units": lambda t, c: (
        _predict_edited(t, c, lambda r: r.update(labels=["vbm"])),
        "labels ['vbm'] disagree with the units recorded for ['band_gap']",
    ),
    "evaluate-two-labels-one-output": lambda t, c: (
        ["evaluate", _edited_run(t, c, _two_labels), "--db", str(c.db), "--out", str(t / "ev")],
        "hparams.n_targets has 1 outputs",
    ),
    "predict-record-node-features": lambda t, c: (
        _predict_edited(
            t,
            c,
            lambda r: r.update(
                node_features=["atomic_number", "atomic_mass", "atomic_radius", "valence"]
            ),
        ),
        "was trained on node features",
    ),
    "predict-record-hidden-edited": lambda t, c: (
        _predict_edited(t, c, lambda r: r["hparams"].update(hidden=32)),
        "weights do not fit the recorded model",
    ),
    "predict-record-not-json": lambda t, c: (
        _predict(
            _structure(t, "a.extxyz", reference_cell("Ag3SBr", (1, 1, 1))),
            run=_broken_run(t, c, "model.json", b"{not json"),
        )(t, c),
        "unreadable run record",
    ),
    "predict-weights-random-bytes": lambda t, c: (
        _predict(
            _structure(t, "a.extxyz", reference_cell("Ag3SBr", (1, 1, 1))),
            run=_broken_run(t, c, "model.pt", bytes(range(256))),
        )(t, c),
        "refused to load",
    ),
    "predict-weights-missing": lambda t, c: (
        _predict(
            _structure(t, "a.extxyz", reference_cell("Ag3SBr", (1, 1, 1))),
            run=_broken_run(t, c, "model.pt", None),
        )(t, c),
        "model.pt: no such checkpoint file",
    ),
    "predict-not-a-run": lambda t, c: (
        _predict(_structure(t, "a.extxyz", reference_cell("Ag3SBr", (1, 1, 1))), run=str(t))(t, c),
        "not a run folder",
    ),
}


def _broken_run(tmp: Path, ctx: Any, name: str, payload: bytes | None) -> str:
    run = tmp / "run"
    shutil.copytree(ctx.run, run)
    if payload is None:
        (run / name).unlink()
    else:
        (run / name).write_bytes(payload)
    return str(run)


# ---------------------------------------------------------------------- the test
@pytest.fixture(scope="module")
def ctx(tiny_ag3sbr_db: Path, tiny_run: Path) -> Any:
    """The shared labeled 5-atom study database and a small model trained on it."""

    class Context:
        db = tiny_ag3sbr_db
        run = tiny_run

    return Context()


def snapshot(*folders: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``folders``: (size, mtime in ns, SHA-256)."""
    files: dict[str, tuple[int, int, str]] = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                stat = path.stat()
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                files[str(path)] = (stat.st_size, stat.st_mtime_ns, digest)
            elif path.is_dir():
                files[str(path)] = (0, 0, "folder")
    return files


def test_the_table_has_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_with_one_line_and_nothing_written(
    name: str,
    ctx: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv, expected = CASES[name](work, ctx)
    watched = (work, Path(ctx.db).parent, Path(ctx.run).parent)
    before = snapshot(*watched)
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"{name}: exit {code}\n{out}\n{err}"
    assert "Traceback" not in out + err
    assert len(lines) == 1, f"{name}: {len(lines)} error lines: {err}"
    assert lines[0].startswith(f"thermognn {argv[0]}: error: ")
    assert expected in lines[0], f"{name}: {lines[0]!r} lacks {expected!r}"
    assert snapshot(*watched) == before, f"{name}: a refused command wrote files"


# ---------------------------------------------------------------------- domain flags
def test_predict_flags_structures_outside_the_training_domain(
    ctx: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import ase.db

    row = next(ase.db.connect(ctx.db).select("labeled=1,scheme=phonon"))
    inside = _structure(tmp_path, "inside.extxyz", row.toatoms())
    copper = _structure(tmp_path, "cu.cif", bulk("Cu", "fcc", a=3.6))
    big = _structure(tmp_path, "big.extxyz", reference_cell("Ag3SBr", (2, 2, 2)))
    stretched = row.toatoms()
    stretched.set_cell(stretched.cell * 1.15, scale_atoms=True)
    far = _structure(tmp_path, "far.extxyz", stretched)
    out = tmp_path / "p.csv"
    assert main(["predict", str(ctx.run), inside, copper, big, far, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    rows = {Path(r["structure"]).name: r for r in csv.DictReader(out.open())}
    assert (
        rows["inside.extxyz"]["in_domain"] == "True" and rows["inside.extxyz"]["domain_flag"] == ""
    )
    assert rows["cu.cif"]["in_domain"] == "False"
    assert "element Cu not in training" in rows["cu.cif"]["domain_flag"]
    assert "40 atoms per cell (trained on 5)" in rows["big.extxyz"]["domain_flag"]
    assert "from the nearest training structure" in rows["far.extxyz"]["domain_flag"]
    warned = [line for line in err.splitlines() if "outside the training domain" in line]
    assert len(warned) == 3 and not any("inside.extxyz" in line for line in warned)
    record = json.loads((Path(ctx.run) / "model.json").read_text())["domain"]
    assert record["elements"] == ["Ag", "Br", "S"] and record["n_atoms"] == [5]
    lo, hi = record["label_ranges"]["band_gap"]
    assert 0 < lo < hi < 5 and record["threshold"] >= 0.02


def test_partial_occupancies_and_constraints_only_on_request(tmp_path: Path) -> None:
    from thermognn.database import StudyDatabase

    mixed = _file(tmp_path, "mixed.cif", PARTIAL_CIF)
    db = tmp_path / "s.db"
    argv = ["sample", "--db", str(db), "--material", mixed, *SAMPLE, "--calculator", "emt"]
    assert main([*argv, "--partial-occupancy", "majority"]) == 0
    ref = next(StudyDatabase(db).select(scheme="reference"))
    assert "majority species" in ref.ordering and "Zn 0.5, Fe 0.3, Pb 0.2" in ref.ordering
    fixed = _file(tmp_path, "POSCAR", SELECTIVE_POSCAR)
    argv = ["sample", "--db", str(db), "--material", fixed, *SAMPLE, "--calculator", "emt"]
    assert main([*argv, "--constraints", "release"]) == 0
    released = next(StudyDatabase(db).select(scheme="reference", material=fixed))
    assert released.released == "FixAtoms on atoms 0"
