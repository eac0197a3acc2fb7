"""Shared fixtures: tiny real systems (5-atom Ag3SBr with GFN1-xTB, fcc Cu with EMT)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session writes phonon caches into its own folder, never $HOME."""
    monkeypatch.setenv("THERMOGNN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(autouse=True)
def _reseed():
    """Code under test must take explicit seeds; reseed global numpy to catch leaks."""
    np.random.seed(12345)  # noqa: NPY002 - deliberately the legacy global state


@pytest.fixture(scope="session")
def cu_phonons(tmp_path_factory):
    """fcc Cu (EMT) force constants, 3×3×3 supercell: a stable, cheap harmonic crystal."""
    from ase.build import bulk

    from thermognn.labels import calculator_factory
    from thermognn.phonons import compute_phonons

    unit = bulk("Cu", "fcc", a=3.6)
    out = tmp_path_factory.mktemp("cu_phonons")
    return compute_phonons(unit, calculator_factory("emt"), (3, 3, 3), out_dir=out), out


@pytest.fixture(scope="session")
def ag3sbr_phonons(tmp_path_factory):
    """GFN1-xTB force constants of Ag3SBr, 2×2×2 supercell (3 displaced cells, ~10 s).

    The cubic phase is unstable at this level: imaginary modes at Γ, X, M and R.
    """
    from thermognn.labels import calculator_factory
    from thermognn.phonons import compute_phonons
    from thermognn.structures import reference_cell

    out = tmp_path_factory.mktemp("ag3sbr_phonons")
    unit = reference_cell("Ag3SBr", (1, 1, 1))
    return compute_phonons(unit, calculator_factory("gfn1-xtb"), (2, 2, 2), out_dir=out), out


@pytest.fixture(scope="session")
def tiny_ag3sbr_db(tmp_path_factory):
    """GFN1-xTB-labeled 5-atom Ag3SBr configurations: 8 phonon, 8 random, 6 md (~20 s)."""
    from thermognn.database import StudyDatabase
    from thermognn.labels import label_database
    from thermognn.sampling import SamplingSpec, sample_configurations

    path = tmp_path_factory.mktemp("tiny_db") / "study.db"
    db = StudyDatabase(path, study="tiny")
    for scheme, kw in (
        ("phonon", {"temperature_range": (100.0, 600.0)}),
        ("random", {"amplitude": (0.05, 0.2)}),
    ):
        sample_configurations(
            db, SamplingSpec("Ag3SBr", scheme, 8, seed=5, supercell=(1, 1, 1), **kw)
        )
    md = SamplingSpec(
        "Ag3SBr",
        "md",
        6,
        seed=5,
        supercell=(1, 1, 1),
        temperatures=[300.0],
        md_stride=2,
        md_equilibration=2,
    )
    sample_configurations(db, md)
    label_database(db, workers=0)
    return path


@pytest.fixture(scope="session")
def tiny_run(tiny_ag3sbr_db, tmp_path_factory):
    """A small paper-1 model trained for a few epochs on the tiny database (band gap)."""
    from thermognn.training import train_run

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    train_run(
        tiny_ag3sbr_db,
        labels="band_gap",
        model="paper-1",
        out=out,
        epochs=4,
        patience=4,
        batch_size=8,
        hparams={"hidden": 16, "lr": 1e-3},
        progress=False,
        seed=0,
    )
    return out
