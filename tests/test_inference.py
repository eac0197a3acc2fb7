"""Models as tools: ``python -m thermognn`` and ``thermognn.load_model(RUN).predict``."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

import thermognn
from thermognn.errors import CheckpointError, StructureError


def test_python_m_thermognn_help_is_cheap():
    out = subprocess.run(
        [sys.executable, "-m", "thermognn", "--help"], capture_output=True, text=True, check=True
    )
    assert "sweep" in out.stdout and "predict" in out.stdout
    probe = "import sys, thermognn; thermognn.load_model; print('torch' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert loaded.stdout.strip() == "False"  # the API is exported lazily


def _structures(db_path, n=4):
    from ase.db import connect

    with connect(db_path) as db:
        return [row.toatoms() for row in db.select("labeled=1", limit=n)]


def test_load_model_predicts_a_dict_of_labels(tiny_run, tiny_ag3sbr_db, tmp_path):
    from thermognn.training import predict_structures

    structures = _structures(tiny_ag3sbr_db)
    model = thermognn.load_model(tiny_run)
    values = model.predict(structures)
    assert list(values) == ["band_gap"] == model.labels and model.units == {"band_gap": "eV"}
    assert values["band_gap"].shape == (4,) and values["band_gap"].dtype == np.float64
    np.testing.assert_allclose(
        values["band_gap"], predict_structures(tiny_run, structures)[:, 0], rtol=1e-12
    )
    one = model.predict(structures[0])  # a single structure is a list of one
    np.testing.assert_allclose(one["band_gap"], values["band_gap"][:1], rtol=1e-12)
    assert model.predict([])["band_gap"].shape == (0,)
    # a folder of runs (one per label, as reproduce writes) loads as one model
    shutil.copytree(tiny_run, tmp_path / "runs" / "band_gap")
    assert thermognn.load_model(tmp_path / "runs").labels == ["band_gap"]
    with pytest.raises(CheckpointError, match="not a run folder"):
        thermognn.load_model(tmp_path)
    broken = structures[0].copy()
    broken.pbc = False
    with pytest.raises(StructureError, match="structure 0"):
        model.predict([broken])


def test_load_model_of_an_ensemble_adds_the_spread(tiny_ag3sbr_db, tmp_path):
    from thermognn.training.ensemble import predict_with_std, train_ensemble

    out = tmp_path / "ensemble"
    train_ensemble(
        tiny_ag3sbr_db,
        labels="band_gap",
        out=out,
        size=2,
        epochs=2,
        batch_size=8,
        hparams={"hidden": 8},
        progress=False,
        plot=False,
    )
    structures = _structures(tiny_ag3sbr_db, 3)
    model = thermognn.load_model(out)
    values = model.predict(structures)
    assert set(values) == {"band_gap", "band_gap_std"} == set(model.units)
    expected = predict_with_std(out, structures)
    for key in values:
        np.testing.assert_allclose(values[key], expected[key], rtol=1e-12)
    assert (values["band_gap_std"] > 0).all()
