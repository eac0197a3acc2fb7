"""Harmonic ensemble averages ⟨P⟩_T: analytic toy models, training range, direct checks."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from thermognn.errors import ThermognnError
from thermognn.temperature import (
    DirectMeans,
    TemperatureCurve,
    compare_with_direct,
    direct_ensemble_means,
    harmonic_ensemble_average,
    property_vs_temperature,
    run_training_domain,
)


@pytest.fixture(scope="module")
def ag3sbr_fc():
    """Bundled GFN1-xTB force constants of Ag3SBr (phonopy folder)."""
    from thermognn.phonons.forceconstants import SHIPPED_PHONONS

    return str(next(SHIPPED_PHONONS.glob("Ag3BrS-*")))


@pytest.fixture(scope="module")
def reference():
    from thermognn.structures import resolve_material

    return resolve_material("Ag3SBr", (1, 1, 1), seed=0)


class SquaredDisplacement:
    """Toy model: P = a − b·Σ_j |u_j|² (Å²), u the displacement from the reference."""

    def __init__(self, reference, a: float = 0.0, b: float = -1.0) -> None:
        self.ref, self.a, self.b = reference.positions.copy(), a, b
        self.units = {"toy": "eV"}

    @property
    def labels(self) -> list[str]:
        return ["toy"]

    def predict_atoms(self, structures):
        s = np.array([((x.positions - self.ref) ** 2).sum() for x in structures])
        return (self.a - self.b * s)[:, None]


def _sum_zeta2(phonons, reference, temperature: float) -> tuple[float, float]:
    """Σ ζ² and Σ ζ⁴ over the cell (eq. 3, abs policy, 0.5 THz floor): Å², Å⁴."""
    from thermognn.phonons import ModePolicy
    from thermognn.phonons.amplitudes import thermal_amplitudes_for

    zeta = thermal_amplitudes_for(
        phonons, reference, temperature, policy=ModePolicy("abs", 0.5), warn=False
    )
    return float((zeta**2).sum()), float((zeta**4).sum())


def test_gaussian_ensemble_mean_of_msd_is_sum_of_zeta_squared(ag3sbr_fc, reference):
    """⟨Σu²⟩_T = Σζ²(T) for ε ~ N(0,1), Σζ²/3 for the paper's ε ~ U[-1,1]."""
    from thermognn.phonons import load_phonons

    toy = SquaredDisplacement(reference)
    temps = [150.0, 600.0]
    kw = dict(n_configs=300, seed=3, supercell=(1, 1, 1), phonons=ag3sbr_fc, train_range=(0, 600))
    gauss = harmonic_ensemble_average([toy], "Ag3SBr", temps, **kw)
    uniform = harmonic_ensemble_average([toy], "Ag3SBr", temps, scheme="phonon", **kw)
    phonons = load_phonons(ag3sbr_fc)
    for i, t in enumerate(temps):
        s2, s4 = _sum_zeta2(phonons, reference, t)
        # Σ ζ²ε² with ε ~ N(0,1): variance 2Σζ⁴; with ε ~ U[-1,1]: (1/5 − 1/9)Σζ⁴
        assert abs(gauss.mean[i, 0] - s2) < 4 * gauss.sem[i, 0]
        assert gauss.sem[i, 0] == pytest.approx(np.sqrt(2 * s4 / 300), rel=0.25)
        assert gauss.thermal_std[i, 0] == pytest.approx(np.sqrt(2 * s4), rel=0.25)
        assert abs(uniform.mean[i, 0] - s2 / 3) < 4 * uniform.sem[i, 0]
        assert uniform.sem[i, 0] == pytest.approx(np.sqrt(4 / 45 * s4 / 300), rel=0.25)
    assert gauss.mean[1, 0] > 2 * gauss.mean[0, 0]  # hotter: larger ⟨u²⟩
    assert gauss.scheme == "phonon-gaussian" and uniform.scheme == "phonon"
    assert np.isnan(gauss.model_std).all()  # one model: spread unknown, not 0


def test_model_spread_and_sem_of_an_ensemble(ag3sbr_fc, reference):
    """Two toy models differing by a constant: model_std = |Δa|/√2, sem adds it over √M."""
    models = [SquaredDisplacement(reference, a=1.0, b=0.5), SquaredDisplacement(reference, a=1.2)]
    models[1].b = 0.5
    kw = dict(n_configs=50, seed=1, supercell=(1, 1, 1), phonons=ag3sbr_fc, train_range=(0, 900))
    curve = harmonic_ensemble_average(models, "Ag3SBr", [300.0], **kw)
    one = harmonic_ensemble_average(models[:1], "Ag3SBr", [300.0], **kw)
    assert curve.n_models == 2
    np.testing.assert_allclose(curve.model_std, 0.2 / np.sqrt(2), rtol=1e-9)
    np.testing.assert_allclose(curve.mean, one.mean + 0.1, rtol=1e-9)  # same configurations
    np.testing.assert_allclose(curve.thermal_std, one.thermal_std, rtol=1e-9)
    np.testing.assert_allclose(curve.sem**2, one.sem**2 + 0.02 / 2, rtol=1e-9)


def test_training_range_flag_and_strict(ag3sbr_fc, reference, tmp_path):
    toy = SquaredDisplacement(reference)
    kw = dict(n_configs=4, supercell=(1, 1, 1), phonons=ag3sbr_fc)
    curve = harmonic_ensemble_average(
        [toy], "Ag3SBr", [100, 150, 600, 650], train_range=(150, 600), **kw
    )
    assert curve.in_training_range.tolist() == [False, True, True, False]
    with pytest.raises(ThermognnError, match="strict: temperatures 100, 650 K lie outside"):
        harmonic_ensemble_average(
            [toy], "Ag3SBr", [100, 300, 650], train_range=(150, 600), strict=True, **kw
        )
    with pytest.raises(ThermognnError, match="training temperatures are unknown"):
        harmonic_ensemble_average([toy], "Ag3SBr", [300], strict=True, **kw)
    with pytest.raises(ThermognnError, match="train_range: need 0 ≤ T_min ≤ T_max"):
        harmonic_ensemble_average([toy], "Ag3SBr", [300], train_range=(600, 150), **kw)
    rows = list(csv.DictReader(curve.write_csv(tmp_path / "c.csv").open()))
    assert [r["in_training_range"] for r in rows] == ["false", "true", "true", "false"]
    assert list(rows[0])[:7] == [
        "temperature_K",
        "label",
        "unit",
        "mean",
        "sem",
        "thermal_std",
        "model_std",
    ]
    assert {r["scheme"] for r in rows} == {"phonon-gaussian"}
    meta = json.loads((tmp_path / "c.json").read_text())
    assert meta["quantity"].startswith("harmonic fixed-volume ensemble average")
    assert meta["training_range_K"] == [150, 600] and meta["scheme"] == "phonon-gaussian"


def _labeled_db(path, rows, batch="b1"):
    """A study database of 1×1×1 Ag3SBr rows (scheme, T, band gap or None if unlabeled)."""
    from thermognn.database import StudyDatabase
    from thermognn.labels.base import Labels
    from thermognn.structures import resolve_material

    db = StudyDatabase(path, study="t")
    atoms = resolve_material("Ag3SBr", (1, 1, 1))
    parent = db.add_reference(atoms, "Ag3SBr")
    ids = []
    for k, (scheme, t, gap) in enumerate(rows):
        record = {"material": "Ag3SBr", "scheme": scheme, "temperature": t, "parent_id": parent}
        record["batch"] = batch
        row = db.add_configuration(atoms, np.zeros((5, 3)), {**record, "supercell": (1, 1, 1)})
        if gap is not None:
            db.write_labels(row, Labels(energy_per_atom=-k, band_gap=gap), "gfn1-xtb", "v")
        ids.append(row)
    return ids


def test_direct_means_group_one_sampling_set_by_temperature(tmp_path):
    rows = [
        ("phonon-gaussian", 150.0, 1.0),
        ("phonon-gaussian", 150.0, 1.2),
        ("phonon-gaussian", 150.0, 1.4),
        ("phonon-gaussian", 300.0, 0.8),
        ("phonon-gaussian", 300.0, 1.0),
        ("phonon-gaussian", 300.0, None),  # unlabeled: left out
        ("phonon", 300.0, 5.0),  # another sampling set: left out
        ("random", None, 7.0),  # no temperature: left out
    ]
    _labeled_db(tmp_path / "s.db", rows)
    d = direct_ensemble_means(tmp_path / "s.db", "Ag3SBr", "band_gap")
    assert d.temperatures.tolist() == [150.0, 300.0] and d.n.tolist() == [3, 2]
    np.testing.assert_allclose(d.mean, [1.2, 0.9])
    np.testing.assert_allclose(d.sem, [0.2 / np.sqrt(3), np.sqrt(0.02) / np.sqrt(2)])
    assert (d.unit, d.scheme, d.supercell, d.labeler) == (
        "eV",
        "phonon-gaussian",
        "1x1x1",
        "gfn1-xtb",
    )
    with pytest.raises(ThermognnError, match="no labeled rows with band_gap"):
        direct_ensemble_means(tmp_path / "s.db", "Ag3SI", "band_gap")
    with pytest.raises(ThermognnError, match="no such study database"):
        direct_ensemble_means(tmp_path / "missing.db", "Ag3SBr", "band_gap")
    assert not (tmp_path / "missing.db").exists()


def _curve(mean, sem, temps=(150.0, 300.0, 450.0)) -> TemperatureCurve:
    n = len(temps)
    return TemperatureCurve(
        temperatures=np.array(temps),
        labels=["band_gap"],
        units={"band_gap": "eV"},
        mean=np.array(mean, float)[:, None],
        sem=np.array(sem, float)[:, None],
        thermal_std=np.full((n, 1), 0.1),
        model_std=np.full((n, 1), np.nan),
        n_configs=32,
        n_models=1,
        in_training_range=np.array([True] * n),
        material="Ag3SBr",
        settings={"scheme": "phonon-gaussian", "supercell": [2, 2, 2]},
    )


def test_two_standard_error_comparison_by_hand(tmp_path):
    curve = _curve([1.00, 0.90, 0.80], [0.03, 0.03, 0.03])
    direct = DirectMeans(
        label="band_gap",
        unit="eV",
        temperatures=np.array([150.0, 300.0, 600.0]),
        mean=np.array([1.07, 1.05, 0.7]),
        sem=np.array([0.04, 0.04, 0.04]),
        n=np.array([40, 40, 40]),
        scheme="phonon-gaussian",
        supercell="2x2x2",
    )
    table = compare_with_direct(curve, direct)
    # combined SE = hypot(0.03, 0.04) = 0.05; 2 SE = 0.10
    assert [r["temperature_K"] for r in table.rows] == [150.0, 300.0] and table.skipped == [600.0]
    assert [r["combined_se"] for r in table.rows] == pytest.approx([0.05, 0.05])
    assert [r["z"] for r in table.rows] == pytest.approx([-1.4, -3.0])
    assert [r["within"] for r in table.rows] == [True, False] and not table.all_within
    assert "OUTSIDE 2 SE" in table.lines()[1]
    assert compare_with_direct(curve, direct, k=3.5).all_within
    assert table.write_csv(tmp_path / "cmp.csv").read_text().count("\n") == 3
    assert curve.plot(tmp_path / "c.png", direct=direct).stat().st_size > 0
    with pytest.raises(ThermognnError, match="supercell 2x2x2 differs from the direct rows' 1x1x1"):
        compare_with_direct(curve, DirectMeans(**{**direct.__dict__, "supercell": "1x1x1"}))


def test_training_domain_from_the_run_record(tmp_path):
    """Training rows' temperatures (from split.json + the record's database) set the range."""
    from thermognn.database import StudyDatabase

    ids = _labeled_db(
        tmp_path / "s.db",
        [
            ("phonon", 120.0, 1.0),
            ("phonon", 480.0, 1.0),
            ("random", None, 1.0),
            ("phonon", 900.0, 1.0),
        ],
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.json").write_text(
        json.dumps({"data": {"db": str(tmp_path / "s.db"), "query": None}})
    )
    split = {"train": {"row_id": ids[:3]}, "val": {"row_id": [ids[3]]}}  # 900 K: validation only
    (run / "split.json").write_text(json.dumps(split))
    dom = run_training_domain(run)
    assert (dom.t_min, dom.t_max, dom.n_rows, dom.schemes) == (120.0, 480.0, 2, ("phonon",))
    assert dom.contains([100, 120, 300, 480, 481]).tolist() == [False, True, True, True, False]
    # rows drawn from a declared continuous range: the batch's range is the domain
    StudyDatabase(tmp_path / "s.db").update_config("sample:b1", {"temperature_range": [100, 500]})
    assert (run_training_domain(run).t_min, run_training_domain(run).t_max) == (100.0, 500.0)
    (run / "model.json").write_text(json.dumps({"data": {"db": str(tmp_path / "gone.db")}}))
    assert run_training_domain(run) is None


def test_run_folders_cli_and_old_name(tiny_run, tmp_path, capsys):
    from thermognn.cli.main import main

    kw = dict(n_configs=4, seed=1, supercell=(1, 1, 1), scheme="phonon")
    curve = property_vs_temperature([tiny_run, tiny_run], "Ag3SBr", [0.0, 300.0], **kw)
    assert curve.labels == ["band_gap"] and curve.mean.shape == (2, 1) and curve.n_models == 2
    np.testing.assert_allclose(curve.model_std, 0.0, atol=1e-6)  # identical models agree
    dom = curve.training_domain  # tiny database: phonon rows drawn in 100–600 K, md at 300 K
    assert (dom.t_min, dom.t_max, dom.schemes) == (100.0, 600.0, ("md", "phonon"))
    assert curve.in_training_range.tolist() == [False, True]
    out = tmp_path / "eg.csv"
    args = ["predict", "--temperatures", "0:300:150", "--model", str(tiny_run), "--supercell"]
    args += ["1", "--n-configs", "4", "--out", str(out), "--scheme", "phonon"]
    assert main(args) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["in_training_range"] for r in rows] == ["false", "true", "true"]
    assert out.with_suffix(".png").exists() and out.with_suffix(".json").exists()
    assert main([*args, "--strict"]) == 2
    assert (
        "strict: temperatures 0 K lie outside the training range 100–600 K"
        in capsys.readouterr().err
    )
    assert main([*args, "--strict", "--scheme", "phonon-gaussian", "--train-range", "0:300"]) == 2
    assert "strict: scheme: the models were trained on md/phonon rows" in capsys.readouterr().err
    assert (
        main(["predict", "--temperatures=-100,0", "--model", str(tiny_run), "--supercell", "1"])
        == 2
    )
    assert "temperatures: need finite values ≥ 0 K" in capsys.readouterr().err
