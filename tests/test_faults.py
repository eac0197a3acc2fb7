"""Faults: ``kill -9`` in the middle of a study, then a resume that loses and repeats nothing.

(``kill -9`` during labeling is ``test_labeling.py::test_kill_minus_nine_loses_at_most_rows_in_flight``.)
The study runs on EMT-labeled two-atom Cu cells: 8 small models.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from ase.build import bulk
from ase.io import write

SPEC = """
[experiment]
labels = "energy_per_atom"
sizes = [6]
seeds = 4
train = { model = "paper-1", hparams = { hidden = 8 }, epochs = 10, patience = 10 }

[[experiment.test_sets]]
name = "a"
select = { sample_set = "a" }
size = 6

[[experiment.arms]]
name = "a"
select = { sample_set = "a" }

[[experiment.arms]]
name = "b"
select = { sample_set = "b" }
"""

KEY = ("label", "arm", "size", "seed", "test_set")


@pytest.fixture(scope="module")
def cu_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sampling sets of 20 EMT-labeled two-atom Cu cells."""
    from thermognn.database import StudyDatabase
    from thermognn.labels import label_database
    from thermognn.sampling import SamplingSpec, sample_configurations

    folder = tmp_path_factory.mktemp("cu_faults")
    cif = folder / "Cu.cif"
    write(cif, bulk("Cu", "fcc", a=3.6))
    db = StudyDatabase(folder / "study.db", study="faults")
    for seed, name in ((1, "a"), (2, "b")):
        spec = SamplingSpec(
            str(cif),
            "random",
            20,
            seed=seed,
            supercell=(2, 1, 1),
            amplitude=(0.02, 0.15),
            calculator="emt",
            sample_set=name,
        )
        sample_configurations(db, spec)
    label_database(db, labeler="emt", workers=0)
    return folder / "study.db"


def _complete_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if None not in r and None not in r.values()]


def test_kill_minus_nine_during_a_study_resumes_without_loss_or_duplicates(
    cu_study: Path, tmp_path: Path
) -> None:
    from thermognn.experiments import run_experiment
    from thermognn.settings import ExperimentSpec, validated

    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(SPEC)
    out = tmp_path / "exp"
    results = out / "results.csv"
    cmd = [sys.executable, "-m", "thermognn.cli.main", "experiment", str(spec_file)]
    cmd += ["--db", str(cu_study), "--out", str(out), "--workers", "0"]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if results.is_file() and len(_complete_rows(results)) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the study finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _complete_rows(results)
    assert 2 <= len(before) < 8

    import tomllib

    spec = validated(ExperimentSpec, tomllib.loads(SPEC)["experiment"], "experiment")
    result = run_experiment(cu_study, spec, out=out, workers=0)
    assert result.skipped == len(before) and result.ran == 8 - len(before)
    rows = _complete_rows(results)
    counts = Counter(tuple(r[k] for k in KEY) for r in rows)
    assert len(counts) == 8 and set(counts.values()) == {1}  # nothing lost, nothing twice
    assert {r["status"] for r in rows} == {"ok"}
    assert rows[: len(before)] == before  # recorded models were not trained again
    again = run_experiment(cu_study, spec, out=out, workers=0)
    assert (again.ran, again.skipped) == (0, 8)


def test_a_row_cut_short_by_a_kill_does_not_swallow_the_next(tmp_path: Path) -> None:
    from thermognn.experiments.records import ResultTable

    table = ResultTable(tmp_path / "r.csv", ("a", "b"))
    table.append({"a": 1, "b": 2})
    with (tmp_path / "r.csv").open("a") as fh:
        fh.write("3")  # killed mid-row
    table.append({"a": 5, "b": 6})
    assert table.rows() == [{"a": "1", "b": "2"}, {"a": "5", "b": "6"}]
