"""The bundled data set: provenance, balance, and a few rows relabeled from scratch."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from thermognn.database import StudyDatabase
from thermognn.labels import get_labeler
from thermognn.paper.reproduce import BUNDLED_DB


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    copy = tmp_path_factory.mktemp("bundled") / "study.db"
    shutil.copyfile(BUNDLED_DB, copy)  # never touch the shipped file
    return StudyDatabase(copy, study="ag3sx-paper", create=False)


def test_provenance_and_balance(bundled):
    config = bundled.metadata["config"]
    assert config["recipe"]["labeler"] == "gfn1-xtb"
    assert config["label"]["labeler_version"].startswith("tblite-")
    lo, hi = config["calibration"]["best"]
    assert 0 < lo <= hi < 0.8
    counts = {(c["material"], c["sample_set"]): c["labeled"] for c in bundled.counts()}
    recipe = config["recipe"]
    for m in ("Ag3SBr", "Ag3SI", "Ag3SBrI"):  # the three arms for the three materials
        assert counts[(m, "phonon")] >= recipe["n_phonon"] == 500
        assert counts[(m, "random-matched")] >= recipe["n_random"] == 500
        assert counts[(m, "random-paper")] >= recipe["n_random_paper"] == 500
    assert counts[("Ag3SBr", "md")] >= recipe["n_md"] == 600
    assert counts[("Ag3SBr", "phonon-renormalised")] >= 500
    assert not list(bundled.select("label_error", limit=1))  # no failed SCF in the set
    # the paper's own range spans 0.1–0.8 Å; the matched range gives gaps like the phonon set's
    paper = [r.amplitude for r in bundled.select(sample_set="random-paper", material="Ag3SBr")]
    assert len(paper) >= 500 and min(paper) < 0.12 and max(paper) > 0.78
    assert all(0.1 <= a <= 0.8 for a in paper)
    gaps = {
        s: [r.band_gap for r in bundled.select(sample_set=s, labeled=True)]
        for s in ("phonon", "random-matched", "random-paper")
    }
    assert abs(np.mean(gaps["phonon"]) - np.mean(gaps["random-matched"])) < 0.1
    assert np.mean(gaps["random-paper"]) < np.mean(gaps["phonon"]) - 0.3  # measured: 0.45 vs 0.98
    temps = [r.temperature for r in bundled.select(sample_set="eg-validation")]
    assert sorted(set(temps)) == [150.0, 300.0, 450.0, 600.0]
    assert all(temps.count(t) == 40 for t in set(temps))
    renormalised = next(bundled.select(sample_set="phonon-renormalised"))
    assert renormalised.fc_source.startswith("scph-300K")
    for row in bundled.select("scheme=phonon", limit=3):
        assert row.natoms == 40 and row.imaginary_policy == "abs"
        np.testing.assert_allclose(
            row.positions - bundled.ase.get(id=row.parent_id).positions,
            row.data["displacements"],
            atol=1e-10,
        )


def test_shipped_rows_relabel_identically(bundled):
    labeler = get_labeler("gfn1-xtb", warm_start=False)  # cold, as the shipped rows were
    sets = ("phonon", "random-matched", "random-paper", "phonon-renormalised")
    rows = [next(bundled.select(sample_set=s, labeled=True)) for s in sets]
    for row in rows:
        fresh = labeler.label(row.toatoms())
        assert fresh.energy_per_atom == pytest.approx(row.energy_per_atom, abs=1e-6)
        assert fresh.band_gap == pytest.approx(row.band_gap, abs=1e-6)
        assert fresh.vbm == pytest.approx(row.vbm, abs=1e-6)
        assert fresh.hydrostatic_stress == pytest.approx(row.hydrostatic_stress, abs=1e-5)
