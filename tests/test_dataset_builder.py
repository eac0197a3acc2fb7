"""The bundled data set's builder on a tiny recipe: rounds, calibration, resumption."""

from __future__ import annotations

from thermognn.database import StudyDatabase
from thermognn.paper.dataset import DatasetRecipe, build_dataset, gap_summary


def _recipe(tmp_path):
    toml = tmp_path / "recipe.toml"
    toml.write_text(
        """
[dataset]
study = "tiny-paper"
materials = ["Ag3SBr"]
supercell = [1, 1, 1]
n_phonon = 10
n_random = 10
round_size = 5
calibration_amplitudes = [0.05, 0.3]
calibration_per_amplitude = 2
calibration_target_rows = 5
n_md = 0
n_random_paper = 4
n_validation = 4
validation_temperatures = [150.0, 600.0]
"""
    )
    return DatasetRecipe.from_toml(toml)


def test_build_calibrate_and_resume(tmp_path):
    recipe = _recipe(tmp_path)
    db_path = tmp_path / "study.db"
    db = build_dataset(db_path, recipe, workers=0)
    counts: dict[str, dict[str, int]] = {}
    for c in db.counts():  # per (material, set, scheme): add the sets of a scheme up
        entry = counts.setdefault(c["scheme"], {"labeled": 0})
        entry["labeled"] += c["labeled"]
    assert counts["phonon"]["labeled"] == 10 and counts["random"]["labeled"] == 14
    sets: dict[str, int] = {}
    for row in db.select(labeled=True):
        if row.scheme != "reference":
            sets[row.sample_set] = sets.get(row.sample_set, 0) + 1
    assert sets == {"phonon": 10, "random-matched": 10, "random-paper": 4, "eg-validation": 4}
    paper = [r.amplitude for r in db.select(sample_set="random-paper")]
    assert all(0.1 <= a <= 0.8 for a in paper)
    temps = sorted(r.temperature for r in db.select(sample_set="eg-validation"))
    assert temps == [150.0, 150.0, 600.0, 600.0]
    cal = db.metadata["config"]["calibration"]
    assert cal["best"][0] in (0.05, 0.3) and len(cal["gaps"]) == 2
    amps = [r.amplitude for r in db.select(sample_set="random-matched")]
    assert min(amps) >= cal["best"][0] and max(amps) <= cal["best"][1]
    summary = gap_summary(db)
    assert summary["phonon"]["n"] == 10
    # a second build finds everything done: no new rows, nothing relabeled
    before = len(db)
    again = build_dataset(db_path, recipe, workers=0)
    assert len(again) == before
    assert StudyDatabase(db_path, study="tiny-paper").metadata["config"]["recipe"]["n_phonon"] == 10


def test_unknown_recipe_key(tmp_path):
    import pytest

    from thermognn.errors import ThermognnError

    bad = tmp_path / "bad.toml"
    bad.write_text("[dataset]\nn_phonons = 3\n")
    with pytest.raises(ThermognnError, match="unknown key"):
        DatasetRecipe.from_toml(bad)
