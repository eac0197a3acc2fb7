"""``thermognn run STUDY.toml`` drives the same subcommands as the shell."""

from __future__ import annotations

from ase.build import bulk
from ase.io import write

from thermognn.cli.main import main
from thermognn.cli.run import to_argv
from thermognn.database import StudyDatabase


def test_to_argv():
    argv = to_argv(
        "sample",
        {"material": "Ag3SBr", "supercell": [1, 1, 1], "n": 3},
        {"db": "s.db", "name": "x"},
    )
    assert argv == [
        "sample",
        "--material=Ag3SBr",
        "--supercell=1,1,1",
        "--n=3",
        "--db=s.db",
        "--study=x",
    ]
    assert to_argv("report", {"args": ["runs/a"]}, {"db": "s.db"}) == ["report", "runs/a"]


def test_study_file_runs_sample_and_label(tmp_path, capsys):
    cif = tmp_path / "Cu.cif"
    write(cif, bulk("Cu", "fcc", a=3.6, cubic=True))
    db = tmp_path / "s.db"
    cfg = tmp_path / "study.toml"
    cfg.write_text(f"""
[study]
name = "cu"
db = "{db}"

[[sample]]
material = "{cif}"
scheme = "random"
amplitude = "0.05:0.1"
supercell = [1, 1, 1]
n = 3

[[sample]]
material = "{cif}"
scheme = "phonon"
calculator = "emt"
supercell = [2, 2, 2]
temperature = "300"
n = 2

[label]
labeler = "emt"
workers = 0
""")
    assert main(["run", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.count("thermognn sample") == 2 and "thermognn label" in out
    sdb = StudyDatabase(db, study="cu")
    assert sdb.ase.count("labeled=1") == 7  # 5 configurations + 2 references
    bad = tmp_path / "bad.toml"
    bad.write_text("[smaple]\nn = 1\n")
    assert main(["run", str(bad)]) == 2
    assert "unknown section(s) ['smaple']" in capsys.readouterr().err
