"""Deep ensembles: ``train --ensemble``, calibrated spread, ``predict`` with ``_std`` columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import ase.db
import ase.io
import numpy as np
import pytest
from ase import Atoms

from thermognn.cli.main import main
from thermognn.training.calibration import calibrate, coverage, fit_scale, verdict
from thermognn.training.checkpoint import find_runs
from thermognn.training.ensemble import (
    EnsemblePredictor,
    load_predictor,
    predict_with_std,
    train_ensemble,
)

FAST = ["--epochs", "4", "--patience", "4", "--batch-size", "8", "--hidden", "8"]


def _cell(u: np.ndarray) -> Atoms:
    a = 4.793
    atoms = Atoms(
        "BrSAg3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=[a, a, a],
        pbc=True,
    )
    atoms.positions += u
    return atoms


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 displaced 5-atom Ag3SBr rows with a smooth synthetic band gap (fast, no xTB)."""
    path = tmp_path_factory.mktemp("ens") / "study.db"
    rng = np.random.default_rng(1)
    with ase.db.connect(path) as db:
        parent = db.write(_cell(np.zeros((5, 3))), material="Ag3SBr", scheme="reference")
        for _ in range(40):
            u = rng.uniform(-0.25, 0.25, (5, 3))
            gap = 1.36 - 0.9 * float((u**2).sum())
            db.write(
                _cell(u), material="Ag3SBr", scheme="phonon", labeled=True, parent_id=parent,
                band_gap=gap,
            )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def ensemble(study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ens_run") / "run"
    argv = ["train", "--db", str(study), "--label", "band_gap", "--out", str(out)]
    assert main([*argv, "--ensemble", "3", *FAST]) == 0
    return out


def test_ensemble_run_folder(ensemble: Path) -> None:
    record = json.loads((ensemble / "ensemble.json").read_text())
    assert record["members"] == ["members/m0", "members/m1", "members/m2"]
    assert record["seeds"] == [0, 1, 2]
    for member in record["members"]:
        assert (ensemble / member / "model.pt").is_file()
    # every member trained on the same rows
    splits = [json.loads((ensemble / m / "split.json").read_text()) for m in record["members"]]
    assert all(s["train"]["row_id"] == splits[0]["train"]["row_id"] for s in splits)
    calib = record["calibration"]["per_label"]["band_gap"]
    assert calib["scale"] > 0 and calib["report_rows"] > 0
    assert 0 <= calib["calibrated_coverage_2sigma"] <= 1
    assert (ensemble / "calibration.png").stat().st_size > 1000
    with (ensemble / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {"row_id", "split", "true", "predicted", "std"} <= set(rows[0])
    assert all(float(r["std"]) > 0 for r in rows)
    assert find_runs(ensemble) == [ensemble]


def test_predict_writes_mean_and_std(ensemble: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    structures = [_cell(rng.uniform(-0.2, 0.2, (5, 3))) for _ in range(4)]
    ase.io.write(tmp_path / "cells.extxyz", structures)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(ensemble), str(tmp_path / "cells.extxyz"), "--out", str(out)]) == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    assert {"band_gap (eV)", "band_gap_std (eV)"} <= set(rows[0])
    values = predict_with_std(ensemble, structures)
    assert set(values) == {"band_gap", "band_gap_std"}
    np.testing.assert_allclose(values["band_gap"], [float(r["band_gap (eV)"]) for r in rows], 1e-5)
    assert (values["band_gap_std"] > 0).all()
    predictor = load_predictor(ensemble)
    assert isinstance(predictor, EnsemblePredictor) and len(predictor.members) == 3


def test_resume_keeps_finished_members(ensemble: Path, study: Path) -> None:
    weights = ensemble / "members" / "m1" / "model.pt"
    before = weights.stat().st_mtime_ns
    result = train_ensemble(
        study,
        labels="band_gap",
        out=ensemble,
        size=3,
        epochs=4,
        patience=4,
        batch_size=8,
        hparams={"hidden": 8},
        progress=False,
    )
    assert weights.stat().st_mtime_ns == before
    assert len(result.members) == 3


def test_calibration_finds_the_scale_of_overconfident_spread() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    std = rng.uniform(0.05, 0.2, n)
    error = rng.normal(0.0, 2.0 * std)  # true spread twice the predicted one
    assert fit_scale(error, std) == pytest.approx(2.0, rel=0.05)
    assert verdict(fit_scale(error, std)) == "over-confident"
    assert coverage(error, std, 1.0) < 0.45
    true = error[:, None]
    out = calibrate(
        true, np.zeros((n, 1)), std[:, None], np.arange(2000), np.arange(2000, n), ["g"]
    )
    assert out["g"]["calibrated_coverage_1sigma"] == pytest.approx(0.683, abs=0.03)
    assert out["g"]["calibrated_coverage_2sigma"] == pytest.approx(0.954, abs=0.02)
    assert verdict(1.0) == "calibrated" and verdict(0.5) == "under-confident"
    assert fit_scale(error[:3], std[:3]) == 1.0  # too few rows: keep the raw spread


def test_single_member_is_refused(study: Path, tmp_path: Path) -> None:
    from thermognn.errors import ThermognnError

    with pytest.raises(ThermognnError, match="at least 2"):
        train_ensemble(study, labels="band_gap", out=tmp_path / "x", size=1, progress=False)


def test_temperature_curve_spread_comes_from_the_members(ensemble: Path) -> None:
    from thermognn.temperature import property_vs_temperature

    kw = dict(n_configs=4, seed=1, supercell=(1, 1, 1), scheme="phonon")
    curve = property_vs_temperature([ensemble], "Ag3SBr", [300.0], **kw)
    assert curve.n_models == 3
    assert float(curve.model_std.max()) > 0  # members differ: E_g(T) carries a spread


def test_seed_ensemble_of_independent_members_is_under_confident(tmp_path: Path) -> None:
    """Members = truth + independent noise of width s: the spread is ≈ s, but the mean's
    error only ≈ s/√M, so the spread is too wide. With σ̂ the sample std of M members,
    E[s²/σ̂²] = (M − 1)/(M − 3), hence the fitted scale √E[(error/σ̂)²] → √((M − 1)/(M(M − 3)))."""
    from thermognn.paper.spread import seed_ensemble, spread_stage

    rng = np.random.default_rng(7)
    n, members, s = 4000, 5, 0.05
    true = rng.normal(1.0, 0.3, n)
    runs = []
    for k in range(members):
        run = tmp_path / f"seed{k}"
        run.mkdir()
        predicted = true + rng.normal(0.0, s, n)
        rows = [f"{i},test,band_gap,{t},{p}" for i, (t, p) in enumerate(zip(true, predicted))]
        rows.append("9999,train,band_gap,0.0,0.0")  # not a test row: left out
        (run / "predictions.csv").write_text(
            "row_id,split,label,true,predicted\n" + "\n".join(rows)
        )
        runs.append(run)
    ids, t, mean, std = seed_ensemble(runs, "band_gap")
    assert len(ids) == n and np.allclose(t, true)
    assert abs(np.mean(std) - s) < 0.1 * s
    result = spread_stage(tmp_path, {"band_gap": runs})["band_gap"]
    assert result["raw"] == "under-confident"
    expected = np.sqrt((members - 1) / (members * (members - 3)))  # 0.632 for M = 5
    assert abs(result["scale"] - expected) < 0.04
    raw, calibrated = result["raw_coverage_1sigma"], result["calibrated_coverage_1sigma"]
    assert raw > 0.85  # far above the 68 % a Gaussian expects
    assert abs(calibrated - 0.683) < 0.08 and abs(calibrated - 0.683) < abs(raw - 0.683) / 2
    assert (tmp_path / "spread.json").is_file()
    assert (tmp_path / "figures" / "calibration.png").is_file()
    assert (tmp_path / "figures" / "spread_band_gap.png").is_file()
