"""Parallel, resumable labeling on a real Dask LocalCluster with the real xTB labeler."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from thermognn.database import StudyDatabase
from thermognn.errors import ThermognnError
from thermognn.labels import get_labeler, label_database
from thermognn.sampling import SamplingSpec, sample_configurations


def _small_study(path, n=4):
    db = StudyDatabase(path, study="t")
    spec = SamplingSpec("Ag3SBr", "random", n, seed=3, supercell=(1, 1, 1), amplitude=(0.05, 0.15))
    sample_configurations(db, spec)
    return db


def test_local_cluster_labels_equal_in_process_labels(tmp_path):
    db = _small_study(tmp_path / "s.db")
    summary = label_database(db, workers=2)
    assert summary.labeled == 5 and summary.failed == 0 and summary.remaining == 0
    assert summary.workers == 2
    lab = get_labeler("gfn1-xtb")
    for row in db.select(labeled=True):
        ref = lab.label(row.toatoms())
        assert row.band_gap == pytest.approx(ref.band_gap, abs=2e-4)  # warm starts: SCF tolerance
        assert row.energy_per_atom == pytest.approx(ref.energy_per_atom, abs=1e-6)
        assert row.labeler == "gfn1-xtb" and row.labeler_version.startswith("tblite-")
    assert label_database(db, workers=0).labeled == 0  # nothing left: resumed, not redone


def test_failures_become_rows_and_can_be_retried(tmp_path):
    db = _small_study(tmp_path / "s.db", n=2)
    s = label_database(db, workers=0, options={"max_iterations": 2})
    assert s.failed == 3 and s.labeled == 0
    assert all("failed" in r.label_error for r in db.select("label_error"))
    assert label_database(db, workers=0).labeled == 0  # failed rows are not silently retried
    s = label_database(db, workers=0, retry_failed=True, limit=2)
    assert s.labeled == 2 and s.remaining == 1


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    db = _small_study(tmp_path / "s.db", n=1)
    t0 = time.time()
    with pytest.raises(ThermognnError, match="scheduler tcp://127.0.0.1:9: unreachable"):
        label_database(db, scheduler="tcp://127.0.0.1:9", connect_timeout=2)
    assert time.time() - t0 < 30
    with pytest.raises(ThermognnError, match="unknown labeler"):
        label_database(db, labeler="dft-magic")


def test_kill_minus_nine_loses_at_most_rows_in_flight(tmp_path):
    path = tmp_path / "s.db"
    db = _small_study(path, n=12)
    cmd = [sys.executable, "-m", "thermognn.cli.main", "label", "--db", str(path), "--workers", "0"]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.time() + 120
    while time.time() < deadline and db.ase.count(labeled=True) < 3:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = db.ase.count(labeled=True)
    assert 3 <= done < 13
    summary = label_database(db, workers=0)
    assert summary.labeled == 13 - done
    assert db.ase.count(labeled=True) == 13 and len(db) == 13
    gaps = [r.band_gap for r in db.select(labeled=True)]
    assert np.all(np.isfinite(gaps))


def test_labelers_come_from_the_registry(tmp_path):
    from thermognn.labels import calculator_factory, labeler_names, register_calculator

    assert labeler_names()[:5] == ["gfn1-xtb", "gfn2-xtb", "emt", "chgnet", "vasp"]
    with pytest.raises(ThermognnError, match=r"unknown labeler 'magic' \(known: gfn1-xtb, gfn2"):
        get_labeler("magic")
    with pytest.raises(ThermognnError, match="thermognn vasp export"):
        label_database(_small_study(tmp_path / "v.db", n=1), labeler="vasp", workers=0)
    with pytest.raises(ThermognnError, match="no ASE calculator.*those that do: gfn1-xtb"):
        calculator_factory("vasp")

    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.units import GPa

    register_calculator("test-emt", EMT)
    cu = bulk("Cu", "fcc", a=3.7, cubic=True)
    labels = get_labeler("test-emt").label(cu)
    cu.calc = calculator_factory("test-emt")()
    assert labels.energy_per_atom == pytest.approx(cu.get_potential_energy() / 4, rel=1e-12)
    assert labels.hydrostatic_stress == pytest.approx(cu.get_stress()[:3].mean() / GPa)
    assert labels.band_gap is None and get_labeler("test-emt").name == "test-emt"


def test_rerun_on_a_finished_database_reports_the_workers_asked_for(tmp_path, capsys):
    from thermognn.cli.main import main

    path = tmp_path / "s.db"
    label_database(_small_study(path, n=1), workers=0)
    assert main(["label", "--db", str(path), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "0 labeled, 0 failed, 0 remaining (nothing to label; 1 workers not needed)" in out
    assert "on 0 workers" not in out


@pytest.mark.parametrize(
    "n,size,workers", [(33, 4, 2), (97, 4, 2), (8, 4, 2), (5, 4, 1), (500, 8, 16)]
)
def test_batch_sizes_cover_every_row_and_end_in_single_rows(n, size, workers):
    from thermognn.labels.runner import batch_sizes

    sizes = batch_sizes(n, size, workers)
    assert sum(sizes) == n and max(sizes) <= size and min(sizes) >= 1
    assert sizes == sorted(sizes, reverse=True)  # never a larger task after a smaller one
    # the last task of every worker is a single row: the idle tail is at most one row
    assert sizes[-min(len(sizes), workers) :] == [1] * min(len(sizes), workers)
    assert batch_sizes(0, size, workers) == []
