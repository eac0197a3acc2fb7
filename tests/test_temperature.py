"""Property versus temperature from a trained model and phonon sampling at each T."""

from __future__ import annotations

import numpy as np
import pytest

from thermognn.errors import ThermognnError
from thermognn.temperature import property_vs_temperature


def test_curve_shapes_seeds_and_files(tiny_run, tmp_path):
    kw = dict(n_configs=6, seed=1, supercell=(1, 1, 1))
    curve = property_vs_temperature([tiny_run, tiny_run], "Ag3SBr", [0.0, 300.0, 600.0], **kw)
    assert curve.labels == ["band_gap"] and curve.mean.shape == (3, 1)
    assert curve.n_models == 2
    np.testing.assert_allclose(curve.model_std, 0.0, atol=1e-6)  # identical models agree
    # hotter → larger displacements → larger spread of predictions
    assert curve.config_std[2, 0] > curve.config_std[0, 0]
    again = property_vs_temperature([tiny_run], "Ag3SBr", [0.0, 300.0, 600.0], **kw)
    np.testing.assert_allclose(again.mean, curve.mean, rtol=1e-6)
    assert curve.write_csv(tmp_path / "c.csv").read_text().count("\n") == 4
    assert curve.plot(tmp_path / "c.png").stat().st_size > 0


def test_bad_temperatures(tiny_run):
    with pytest.raises(ThermognnError, match="temperatures: need finite values ≥ 0 K"):
        property_vs_temperature([tiny_run], "Ag3SBr", [-50.0, 100.0], supercell=(1, 1, 1))
    with pytest.raises(ThermognnError, match="not a phonon scheme"):
        property_vs_temperature([tiny_run], "Ag3SBr", [100.0], scheme="random")


def test_predict_cli_temperature_mode(tiny_run, tmp_path, capsys):
    from thermognn.cli.main import main

    out = tmp_path / "eg.csv"
    assert (
        main(
            [
                "predict",
                "--temperatures",
                "0:300:150",
                "--model",
                str(tiny_run),
                "--material",
                "Ag3SBr",
                "--supercell",
                "1",
                "--n-configs",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_text().count("band_gap") == 3 and out.with_suffix(".png").exists()
    assert (
        main(["predict", "--temperatures=-100,0", "--model", str(tiny_run), "--supercell", "1"])
        == 2
    )
    assert "temperatures: need finite values ≥ 0 K" in capsys.readouterr().err
