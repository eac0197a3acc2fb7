"""The multi-machine path on a real PostgreSQL server: a throwaway cluster per session.

The fixture runs ``initdb`` in a temporary folder, starts the server with ``pg_ctl`` on a
free port (TCP on 127.0.0.1, trust authentication, unix socket in the same folder) and
creates a database. As root it runs the server binaries as the ``postgres`` user (initdb
refuses root). The tests drive the pipeline through the study URL as a user would:
``sample`` → ``label`` on two Dask workers → ``train``, and an Optuna search whose
PostgreSQL storage two ``thermognn sweep`` processes share at the same time.

Skipped, saying why, only where the server binaries or psycopg2 are absent.
"""

from __future__ import annotations

import csv
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from thermognn.cli.main import main

LABEL = "band_gap"


def _server_bin(name: str) -> str | None:
    """A PostgreSQL server program on PATH or under Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _skip_reason() -> str | None:
    missing = [n for n in ("initdb", "pg_ctl") if _server_bin(n) is None]
    if missing:
        return f"PostgreSQL server programs not installed ({', '.join(missing)} not found)"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 not installed (pip install 'thermognn[postgres]')"
    if os.geteuid() == 0:
        import pwd

        if shutil.which("runuser") is None:
            return "running as root without runuser: initdb refuses root"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user: initdb refuses root"
    return None


needs_server = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    """``argv`` run as ``postgres`` when we are root (initdb and postgres refuse root)."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str]:
    """A running throwaway PostgreSQL server; yields its base URL (no database name)."""
    folder = Path(tempfile.mkdtemp(prefix="thermognn-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    subprocess.run(
        _as_server_user(
            [str(_server_bin("initdb")), "-D", str(data), "-U", "thermognn", "--auth=trust"]
            + ["--no-sync", "--encoding=UTF8", "--locale=C"]
        ),
        **run,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = str(_server_bin("pg_ctl"))
    subprocess.run(
        _as_server_user(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]
        ),
        **run,
    )
    try:
        yield f"postgresql://thermognn@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _createdb(server: str, name: str) -> str:
    import psycopg2

    connection = psycopg2.connect(f"{server}/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return f"{server}/{name}"


def test_selections_mean_the_same_on_sqlite_and_postgresql(tmp_path: Path):
    """``labeled=1`` is JSON ``true`` on PostgreSQL: selections say ``labeled=True``."""
    from ase import Atoms
    from ase.db import connect

    from thermognn.database.guard import portable_selection

    assert portable_selection("scheme=phonon,labeled=1") == "scheme=phonon,labeled=True"
    assert portable_selection({"labeled": 0}) == {"labeled": False}
    assert portable_selection("labeled!=1") == "labeled!=1"  # only equalities are rewritten
    with connect(tmp_path / "x.db") as db:
        db.write(Atoms("Cu", cell=[2, 2, 2], pbc=True), labeled=True)
        db.write(Atoms("Cu", cell=[2, 2, 2], pbc=True), labeled=False)
        assert [r.id for r in db.select("labeled=1")] == [r.id for r in db.select("labeled=True")]


@pytest.mark.postgres
@needs_server
def test_sample_label_train_on_a_postgresql_study(postgres_server: str, tmp_path: Path):
    url = _createdb(postgres_server, "study")
    for scheme in ("phonon", "random"):
        argv = ["sample", "--db", url, "--material", "Ag3SBr", "--scheme", scheme, "--n", "4"]
        argv += ["--supercell", "1", "--seed", "3", "--temperature", "100:600"]
        assert main([*argv, "--amplitude", "0.05:0.2"]) == 0
    assert main(["label", "--db", url, "--workers", "2"]) == 0
    from thermognn.database import StudyDatabase

    db = StudyDatabase(url, create=False)
    rows = list(db.select(labeled=True))
    assert len([r for r in rows if r.scheme != "reference"]) == 8
    assert all(LABEL in r.key_value_pairs for r in rows)
    out = tmp_path / "run"
    argv = ["train", "--db", url, "--label", LABEL, "--model", "paper-1", "--out", str(out)]
    argv += ["--epochs", "2", "--batch-size", "8", "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    record = (out / "model.json").read_text()
    assert "postgresql://" in record and (out / "model.pt").stat().st_size > 0


def _sweep(db: Path, storage: str, out: Path, trials: int) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "thermognn", "sweep", "--db", str(db), "--label", LABEL]
    argv += ["--out", str(out), "--search", "optuna", "--storage", storage, "--trials"]
    argv += [str(trials), "--models", "paper-1", "--lr", "1e-3,1e-2", "--hidden", "8,16"]
    argv += ["--dropout", "0", "--epochs", "2", "--patience", "2", "--batch-size", "8"]
    argv += ["--workers", "0", "--no-plots", "--keep", "none"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


@pytest.mark.postgres
@needs_server
def test_two_processes_share_an_optuna_search_on_postgresql(
    postgres_server: str, tiny_ag3sbr_db: Path, tmp_path: Path
):
    import optuna

    from thermognn.studies.optuna_io import open_storage

    storage = _createdb(postgres_server, "optuna")
    runs = [_sweep(tiny_ag3sbr_db, storage, tmp_path / name, 4) for name in ("a", "b")]
    outputs = [p.communicate(timeout=300)[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
    study = optuna.load_study(study_name="thermognn-sweep", storage=open_storage(storage))
    trials = study.get_trials(deepcopy=False)
    owners = {t.user_attrs["owner"].rsplit(":", 1)[-1] for t in trials}
    assert owners == {str((tmp_path / n).resolve()) for n in ("a", "b")}, outputs
    assert len([t for t in trials if not t.user_attrs.get("interrupted")]) >= 4
    assert len({t.number for t in trials}) == len(trials)
    rows = {}
    for name in ("a", "b"):
        with (tmp_path / name / "trials.csv").open() as fh:
            rows[name] = {r["trial"] for r in csv.DictReader(fh)}
    assert rows["a"] and rows["b"] and not rows["a"] & rows["b"]  # each trial trained once
    assert all(t.distributions["lr"].log for t in trials if "lr" in t.distributions)
