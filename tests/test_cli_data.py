"""The data-stage CLI, run in-process: thin wrappers, one-line errors, TOML study files."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from ase.build import bulk
from ase.io import write

from thermognn.cli.main import main
from thermognn.database import StudyDatabase


@pytest.fixture()
def cu_poscar(tmp_path):
    path = tmp_path / "POSCAR"
    write(path, bulk("Cu", "fcc", a=3.6), format="vasp")
    return str(path)


def test_help_is_fast_and_lists_stages():
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "thermognn.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert time.perf_counter() - t0 < 5
    for cmd in ("phonons", "sample", "label", "db-info"):
        assert cmd in out
    code = (
        "import sys, thermognn.cli.main as m; m.build_parser(); "
        "print(' '.join(k for k in ('torch','phonopy','tblite','torch_geometric') if k in sys.modules))"
    )
    heavy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert heavy.stdout.strip() == ""


def test_pipeline_through_the_cli(tmp_path, cu_poscar, capsys):
    db = str(tmp_path / "s.db")
    ph = str(tmp_path / "ph")
    assert main(["phonons", "--material", cu_poscar, "--calculator", "emt", "--out", ph]) == 0
    assert (tmp_path / "ph" / "phonopy_params.yaml").is_file()
    assert (
        main(
            [
                "sample",
                "--db",
                db,
                "--material",
                cu_poscar,
                "--scheme",
                "phonon",
                "--temperature",
                "300",
                "--n",
                "3",
                "--seed",
                "1",
                "--phonons",
                ph,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "sample",
                "--db",
                db,
                "--material",
                cu_poscar,
                "--scheme",
                "random",
                "--amplitude",
                "0.1:0.2",
                "--n",
                "2",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    assert main(["label", "--db", db, "--labeler", "emt", "--workers", "0"]) == 0
    assert "6 labeled, 0 failed, 0 remaining" in capsys.readouterr().out
    assert main(["db-info", db]) == 0
    out = capsys.readouterr().out
    assert "phonon" in out and "random" in out
    rows = list(StudyDatabase(db).select(scheme="phonon"))
    assert len(rows) == 3 and all(r.fc_source.startswith("file:") for r in rows)


def test_options_from_a_toml_study_file(tmp_path, cu_poscar):
    cfg = tmp_path / "study.toml"
    cfg.write_text(
        f'[sample]\nmaterial = "{cu_poscar}"\nscheme = "random"\nn = 2\namplitude = [0.1, 0.1]\n'
        f"supercell = [1, 1, 1]\n"
    )
    db = str(tmp_path / "s.db")
    assert (
        main(
            [
                "sample",
                "--db",
                db,
                "--config",
                str(cfg),
                "--material",
                cu_poscar,
                "--scheme",
                "random",
                "--n",
                "2",
            ]
        )
        == 0
    )
    rows = list(StudyDatabase(db).select(scheme="random"))
    assert len(rows) == 2 and all(r.amplitude == pytest.approx(0.1) for r in rows)
    bad = tmp_path / "bad.toml"
    bad.write_text("[sample]\ncolour = 'blue'\n")
    assert (
        main(
            [
                "sample",
                "--db",
                db,
                "--config",
                str(bad),
                "--material",
                cu_poscar,
                "--scheme",
                "random",
                "--n",
                "1",
            ]
        )
        == 2
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            [
                "sample",
                "--db",
                "{db}",
                "--material",
                "missing.cif",
                "--scheme",
                "random",
                "--n",
                "1",
            ],
            "missing.cif: neither a built-in material",
        ),
        (
            [
                "sample",
                "--db",
                "{db}",
                "--material",
                "Ag3SBr",
                "--scheme",
                "phonon",
                "--temperature",
                "-5",
                "--n",
                "1",
            ],
            "temperature: must be finite and ≥ 0 K",
        ),
        (
            [
                "sample",
                "--db",
                "{db}",
                "--material",
                "Ag3SBr",
                "--scheme",
                "random",
                "--amplitude=-0.2:0.1",
                "--n",
                "1",
            ],
            "amplitude: need 0 ≤ a_min",
        ),
        (["label", "--db", "{tmp}/nothing.db"], "nothing.db: no such study database"),
        (["label", "--db", "{db}", "--labeler", "magic"], "unknown labeler 'magic'"),
    ],
)
def test_bad_input_gives_one_line(tmp_path, capsys, argv, message):
    db = str(tmp_path / "s.db")
    StudyDatabase(db, study="x")
    argv = [a.format(db=db, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_other_study_is_refused(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    StudyDatabase(db, study="alpha")
    assert main(["label", "--db", db, "--study", "beta"]) == 2
    assert "belongs to study 'alpha', not 'beta'" in capsys.readouterr().err


def test_public_api_names_resolve():
    import thermognn

    for name in thermognn.__all__:
        assert callable(getattr(thermognn, name)) or name == "__version__", name
