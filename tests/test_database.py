"""The study database: record, metadata, refusal of foreign databases, ase db CLI."""

from __future__ import annotations

import numpy as np
import pytest

from thermognn.database import StudyDatabase
from thermognn.errors import DatabaseError
from thermognn.labels import Labels
from thermognn.structures import reference_cell


def test_rows_labels_failures_and_counts(tmp_path):
    db = StudyDatabase(tmp_path / "s.db", study="demo")
    ref = reference_cell("Ag3SBr", (1, 1, 1))
    rid = db.add_reference(ref, "Ag3SBr")
    assert db.add_reference(ref.copy(), "Ag3SBr") == rid  # found, not duplicated
    at = ref.copy()
    u = np.full((5, 3), 0.01)
    at.positions += u
    cid = db.add_configuration(
        at,
        u,
        {
            "material": "Ag3SBr",
            "scheme": "phonon",
            "parent_id": rid,
            "temperature": 300.0,
            "seed": 1,
        },
    )
    assert set(db.unlabeled_ids()) == {rid, cid}
    db.write_failure(cid, "SCF not converged\n in 250 iterations", "gfn1-xtb", "tblite-0.8.0")
    assert db.unlabeled_ids() == [rid]
    assert db.unlabeled_ids(retry_failed=True) == [rid, cid]
    row = db.ase.get(id=cid)
    assert row.label_error == "SCF not converged in 250 iterations" and not row.labeled
    db.write_labels(cid, Labels(-1.0, 1.2, -8.0, -3.5, stress=np.zeros(6)), "gfn1-xtb", "v")
    row = db.ase.get(id=cid)
    assert row.labeled and "label_error" not in row.key_value_pairs
    assert (row.energy_per_atom, row.band_gap, row.vbm, row.hydrostatic_stress) == (
        -1.0,
        1.2,
        -8.0,
        -3.5,
    )
    np.testing.assert_allclose(row.data["displacements"], u)
    counts = {(c["material"], c["scheme"]): c for c in db.counts()}
    assert counts[("Ag3SBr", "phonon")]["labeled"] == 1
    assert counts[("Ag3SBr", "reference")]["pending"] == 1
    assert db.metadata["units"]["hydrostatic_stress"] == "GPa"


def test_nan_label_is_refused(tmp_path):
    from thermognn.errors import LabelError

    with pytest.raises(LabelError, match="band_gap is not finite"):
        Labels(-1.0, float("nan")).scalars()


def test_foreign_databases_are_refused(tmp_path):
    path = tmp_path / "s.db"
    StudyDatabase(path, study="one")
    with pytest.raises(DatabaseError, match="belongs to study 'one', not 'two'"):
        StudyDatabase(path, study="two")
    StudyDatabase(path)  # no study given: accepted
    text = tmp_path / "notes.db"
    text.write_text("hello")
    with pytest.raises(DatabaseError, match="notes.db: not an SQLite database"):
        StudyDatabase(text)
    import ase.db

    plain = tmp_path / "plain.db"
    ase.db.connect(str(plain)).write(reference_cell("Ag3SBr", (1, 1, 1)))
    with pytest.raises(DatabaseError, match="not a thermognn study database"):
        StudyDatabase(plain)
    with pytest.raises(DatabaseError, match="no such study database"):
        StudyDatabase(tmp_path / "missing.db", create=False)


def test_ase_db_cli_lists_the_study(tmp_path, capsys):
    from ase.cli.main import main as ase_main

    db = StudyDatabase(tmp_path / "s.db")
    db.add_reference(reference_cell("Ag3SBr", (1, 1, 1)), "Ag3SBr")
    ase_main(args=["db", str(tmp_path / "s.db"), "scheme=reference", "-c", "id,material,scheme"])
    out = capsys.readouterr().out
    assert "Ag3SBr" in out and "reference" in out


def test_rows_labeled_elsewhere_join_the_study_once(tmp_path):
    from ase.build import bulk
    from ase.io import write

    from thermognn.database.merge import import_rows
    from thermognn.labels import label_database
    from thermognn.sampling import SamplingSpec, sample_configurations

    cif = tmp_path / "Cu.cif"
    write(cif, bulk("Cu", "fcc", a=3.6, cubic=True))
    target = StudyDatabase(tmp_path / "main.db", study="main")
    spec = SamplingSpec(str(cif), "random", 2, seed=1, calculator="emt", supercell=(1, 1, 1))
    sample_configurations(target, spec)  # the target already holds the reference
    source = StudyDatabase(tmp_path / "elsewhere.db", study="main")
    other = SamplingSpec(
        str(cif), "random", 3, seed=2, calculator="emt", supercell=(1, 1, 1), sample_set="far"
    )
    sample_configurations(source, other)
    label_database(source, labeler="emt", workers=0)
    assert import_rows(target, source, "labeled=1", replace={"fc_source": "portable"}) == 3
    ref_id = next(target.select(scheme="reference")).id
    copied = list(target.select(sample_set="far"))
    originals = {r.config_index: r for r in source.select(sample_set="far")}
    assert len(copied) == 3 and {r.parent_id for r in copied} == {ref_id}
    for row in copied:
        twin = originals[row.config_index]
        assert row.energy_per_atom == twin.energy_per_atom and row.fc_source == "portable"
        np.testing.assert_array_equal(row.data["displacements"], twin.data["displacements"])
    assert f"sample:{other.batch_key()}" in target.metadata["config"]
    assert import_rows(target, source, "labeled=1") == 0  # nothing twice
    assert target.ase.count("scheme=reference") == 1


def test_select_over_one_connection_gives_the_rows_of_ase_select(tiny_ag3sbr_db):
    import ase.db

    from thermognn.database.guard import select

    database = ase.db.connect(str(tiny_ag3sbr_db))
    plain = [(r.id, r.unique_id, dict(r.key_value_pairs)) for r in database.select("labeled=1")]
    fast = [(r.id, r.unique_id, dict(r.key_value_pairs)) for r in select(database, "labeled=1")]
    assert fast == plain and plain
    assert database.connection is None  # closed again
    with database:  # a caller's own connection is used, not replaced
        inside = select(database, "labeled=1", columns=["id"])
        assert database.connection is not None
    assert [r.id for r in inside] == [r[0] for r in plain]


def test_a_transaction_writes_all_rows_or_none(tmp_path):
    """Rows written in one transaction land together; an error inside rolls all back,
    and a nested block joins the outer one."""
    db = StudyDatabase(tmp_path / "s.db", study="demo")
    ref = reference_cell("Ag3SBr", (1, 1, 1))
    ids = [db.add_reference(ref, material) for material in ("A", "B", "C")]
    labels = Labels(-1.0, 1.2, -8.0, -3.5, stress=np.zeros(6))
    with db.transaction():
        db.write_labels(ids[0], labels, "gfn1-xtb", "v")
        with db.transaction():  # joins: no commit of its own
            db.write_labels(ids[1], labels, "gfn1-xtb", "v")
    assert db.unlabeled_ids() == [ids[2]]
    with pytest.raises(RuntimeError), db.transaction():
        db.write_labels(ids[2], labels, "gfn1-xtb", "v")
        db.write_failure(ids[0], "late failure", "gfn1-xtb", "v")
        raise RuntimeError("interrupted")
    assert db.unlabeled_ids() == [ids[2]]  # neither write of the failed block landed
    assert "label_error" not in db.ase.get(id=ids[0]).key_value_pairs
