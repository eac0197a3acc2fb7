"""``thermognn run STUDY.toml``: the whole file is validated first, then the same
subcommands as the shell run in pipeline order."""

from __future__ import annotations

import json

import pytest
from ase.build import bulk
from ase.io import write

from thermognn.cli.main import main
from thermognn.database import StudyDatabase
from thermognn.errors import ThermognnError
from thermognn.settings import ExperimentSpec
from thermognn.studyfile import load_study

THREE_ERRORS = """
[study]
nme = "typo"
db = "{db}"

[[sample]]
material = "Ag3SBr"
scheme = "random"
n = 3

[[sample]]
material = "Ag3SBr"
scheme = "phonn"
n = 3

[label]
workers = 0

[train]
label = "band_gap"
out = "{out}"
epochs = "many"
"""


def _study(tmp_path, text):
    path = tmp_path / "study.toml"
    path.write_text(text)
    return load_study(path)


def _errors(tmp_path, text: str) -> list[str]:
    """The error lines of a study file given as TOML text."""
    with pytest.raises(ThermognnError) as info:
        _study(tmp_path, text)
    head, *lines = str(info.value).splitlines()
    assert head == f"{tmp_path / 'study.toml'}: {len(lines)} error(s), nothing was run"
    return lines


@pytest.mark.parametrize("dry_run", [False, True])
def test_errors_in_three_sections_one_message_nothing_created(tmp_path, capsys, dry_run):
    db, out = tmp_path / "s.db", tmp_path / "runs" / "gap"
    cfg = tmp_path / "study.toml"
    cfg.write_text(THREE_ERRORS.format(db=db, out=out))
    assert main(["run", str(cfg), *(["--dry-run"] if dry_run else [])]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no stage, not even the plan
    lines = [line for line in captured.err.splitlines() if line.startswith("[")]
    assert len(lines) == 3
    assert lines[0] == "[study].nme: unknown key"
    # the known schemes come from the registry (a plug-in test may have added one)
    assert lines[1].startswith(
        "[sample][2].scheme: expected one of random, phonon, phonon-gaussian, normal-mode, md"
    )
    assert lines[1].endswith('got "phonn"')
    assert lines[2] == '[train].epochs: expected an integer ≥ 1, got "many"'
    assert "3 error(s), nothing was run" in captured.err
    assert not db.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.toml"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[smaple]\nn = 1\n[label]\ndb = 'x'", "[smaple]: unknown section; choose one of study,"),
        ("[label]\ndb = 'x'\nwrokers = 2", "[label].wrokers: unknown key"),
        (
            "[[sample]]\ndb='x'\nmaterial='Ag3SBr'\nscheme='md'\nn=1\n"
            "[[sample]]\ndb='x'\nmaterial='Ag3SBr'\nscheme='md'\nn=1\nseeed=2",
            "[sample][2].seeed: unknown key",
        ),
        (
            "[experiment]\ndb='x'\nout='e'\n[[experiment.test_sets]]\nname='t'\n"
            "[[experiment.arms]]\nname='a'\nnmae='b'",
            "[experiment].arms[1].nmae: unknown key",
        ),
        (
            "[experiment]\ndb='x'\nout='e'\ntrain={epochs=0}\n[[experiment.test_sets]]\n"
            "name='t'\n[[experiment.arms]]\nname='a'",
            "[experiment].train.epochs: expected a value ≥ 1, got 0",
        ),
        (
            "[experiment]\ndb='x'\nout='e'\n[[experiment.test_sets]]\nname='t'\n"
            "[[experiment.arms]]\nname='a'\nunion=['nope']",
            "[experiment]: arm a: union of unknown ['nope']",
        ),
        ("[train]\ndb='x'\nlabel='gap'\nout='r'\nsplit=[0.8, 0.1, 0.1]", "[train].split: not an"),
        ("[train]\ndb='x'\nlabel='gap'", "[train].out: required"),
        ("[train]\ndb='x'\nlabel='gap'\nout='r'\nlr=0", "[train].lr: expected a value > 0"),
        ("[train]\ndb='x'\nlabel='g'\nout='r'\nhparam=['n_rbf']", "[train].hparam: expected KEY"),
        ("[curve]\ndb='x'\nout='c'\nsizes=[10, 0]", "[curve].sizes: expected a list of integers"),
        ("[[sample]]\nmaterial='Ag3SBr'\nscheme='md'\nn=1", "[sample][1].db: required"),
        (
            "[[sample]]\ndb='x'\nmaterial='A'\nscheme='md'\nn=1\nsupercell=[1, 0, 1]",
            "[sample][1].supercell: expected N or N,N,N ≥ 1, got [1, 0, 1]",
        ),
        ("[label]\ndb='x'\nretry_failed='maybe'", "[label].retry_failed: expected true or false"),
        ("[report]\nargs=[]", "[report].args: expected 1 value(s) (RUN_DIR), got []"),
        ("[label]\ndb = 'x'\n[study]\nname=3", "[study].name: expected a string, got 3"),
        ("[study]\nname='x'", "no stage section"),
    ],
)
def test_every_section_and_key_is_checked(tmp_path, text, line):
    lines = _errors(tmp_path, text)
    assert len(lines) == 1 and lines[0].startswith(line), lines


def test_valid_file_gives_the_commands_of_the_shell(tmp_path):
    study = _study(
        tmp_path,
        """
[study]
name = "x"
db = "s.db"
[[sample]]
material = "Ag3SBr"
supercell = [1, 1, 1]
scheme = "random"
amplitude = "0.05:0.1"
temperature = [150, 300]
n = 3
[label]
workers = 0
retry-failed = true
[train]
label = "band_gap"
out = "r"
epochs = "3"
hparams = {hidden = 8, act = "relu"}
[report]
args = ["r"]
""",
    )
    assert [s.argv() for s in study.stages] == [
        [
            "sample",
            "--db=s.db",
            "--study=x",
            "--material=Ag3SBr",
            "--supercell=1,1,1",
            "--scheme=random",
            "--n=3",
            "--temperature=150,300",
            "--amplitude=0.05:0.1",
        ],
        ["label", "--db=s.db", "--study=x", "--workers=0", "--retry-failed"],
        ["train", "--db=s.db", "--label=band_gap", "--out=r", "--epochs=3"]
        + ["--hparam=hidden=8", '--hparam=act="relu"'],
        ["report", "r"],
    ]
    assert study.stages[2].settings.epochs == 3  # validated by TrainSettings: an int


EXPERIMENT = """
[study]
db = "{db}"

[experiment]
out = "{out}"
workers = 0
labels = "band_gap"
sizes = [4]
seeds = 2
train = {{ epochs = 3 }}

[[experiment.test_sets]]
name = "phonon"
select = {{ scheme = "phonon" }}
size = 4

[[experiment.arms]]
name = "random"
select = {{ scheme = "random" }}
"""


def test_experiment_section_goes_to_run_experiment(tmp_path, capsys, monkeypatch):
    import thermognn.experiments as experiments

    calls = []

    def fake(db, spec, *, out, workers=None, scheduler=None, progress=None, **kw):
        calls.append((db, spec, out, workers, scheduler, kw))
        return type("Result", (), {"out": out, "ran": 0, "skipped": 0})()

    monkeypatch.setattr(experiments, "run_experiment", fake)
    cfg = tmp_path / "study.toml"
    cfg.write_text(EXPERIMENT.format(db=tmp_path / "s.db", out=tmp_path / "exp"))
    assert main(["run", "--dry-run", str(cfg)]) == 0
    assert "thermognn experiment --db=" in capsys.readouterr().out and not calls
    assert main(["run", str(cfg)]) == 0
    ((db, spec, out, workers, scheduler, kw),) = calls
    assert (db, out, workers, scheduler, kw) == (
        str(tmp_path / "s.db"),
        str(tmp_path / "exp"),
        0,
        None,
        {},
    )
    assert isinstance(spec, ExperimentSpec) and type(spec) is ExperimentSpec
    assert (spec.labels, spec.sizes, spec.seeds, spec.train.epochs) == (["band_gap"], [4], 2, 3)
    assert [a.name for a in spec.arms] == ["random"] and spec.test_sets[0].size == 4


def test_tiny_study_runs_end_to_end(tmp_path, capsys, monkeypatch):
    """5-atom Ag3SBr, 8 random configurations, GFN1-xTB labels in-process, 3 epochs."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text("""
[study]
name = "tiny"
db = "s.db"

[[sample]]
material = "Ag3SBr"
scheme = "random"
amplitude = "0.05:0.2"
supercell = [1, 1, 1]
n = 8
seed = 3

[label]
workers = 0

[train]
label = "band_gap"
out = "runs/gap"
epochs = 3
patience = 3
batch_size = 4
hparams = { hidden = 8 }
""")
    assert main(["run", "study.toml"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("thermognn ")] == [
        "sample",
        "label",
        "train",
    ]
    assert StudyDatabase(tmp_path / "s.db", study="tiny").ase.count("labeled=1") == 9
    run = tmp_path / "runs" / "gap"
    history = (run / "history.csv").read_text().strip().splitlines()
    assert len(history) == 1 + 3  # header + 3 epochs
    record = json.loads((run / "model.json").read_text())
    assert "hidden" in json.dumps(record) and (run / "model.pt").exists()


def test_study_file_with_two_samples_and_emt(tmp_path, capsys):
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
