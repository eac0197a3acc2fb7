"""``thermognn train / evaluate / predict`` in-process on a tiny study database."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import ase.db
import ase.io
import numpy as np
import pytest
from ase import Atoms

from thermognn.cli.main import build_parser, main
from thermognn.cli.train import train_settings
from thermognn.settings import TrainSettings

LABELS = ("energy_per_atom", "band_gap", "vbm", "hydrostatic_stress")
FAST = ["--epochs", "3", "--patience", "3", "--batch-size", "8", "--hidden", "8"]


def ag3sbr_cell(a: float = 4.793) -> Atoms:
    """The 5-atom cubic antiperovskite cell (Br corner, S centre, Ag face centres)."""
    return Atoms(
        "BrSAg3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=[a, a, a],
        pbc=True,
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study database: one reference row and 24 displaced rows with fake-but-finite labels.

    Two rows lack the band gap (as a failed or energy-only labeler would leave them).
    """
    path = tmp_path_factory.mktemp("study") / "study.db"
    rng = np.random.default_rng(0)
    with ase.db.connect(path) as db:
        parent = db.write(ag3sbr_cell(), material="Ag3SBr", scheme="reference", labeled=False)
        for k in range(24):
            atoms = ag3sbr_cell()
            u = rng.uniform(-0.25, 0.25, (5, 3))
            atoms.positions += u
            r2 = float((u**2).sum())
            labels = dict(
                zip(
                    LABELS,
                    (-3.0 + 0.4 * r2, 1.36 - 0.9 * r2, 2.0 + 0.2 * r2, -3.5 + 4 * r2),
                    strict=True,
                )
            )
            if k in (3, 11):
                del labels["band_gap"]
            db.write(
                atoms, material="Ag3SBr", scheme="phonon", labeled=True, parent_id=parent, **labels
            )
    return path


@pytest.fixture(scope="module")
def runs(study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "all"
    assert main(["train", "--db", str(study), "--label", "all", "--out", str(out), *FAST]) == 0
    return out


def test_train_all_labels_writes_one_run_per_label(runs: Path) -> None:
    for label in LABELS:
        run = runs / label
        for name in ("model.pt", "model.json", "metrics.json", "predictions.csv", "split.json"):
            assert (run / name).is_file(), f"{label}/{name}"
        record = json.loads((run / "model.json").read_text())
        assert record["labels"] == [label]
        expected = 22 if label == "band_gap" else 24
        assert record["data"]["n_graphs"] == expected
    assert json.loads((runs / "band_gap" / "model.json").read_text())["data"]["n_skipped"] == 2


def test_multi_target_schnet_and_toml_config(study: Path, tmp_path: Path) -> None:
    config = tmp_path / "study.toml"
    config.write_text('[train]\nmodel = "schnet"\nlabel = "energy_per_atom,vbm"\nepochs = 2\n')
    out = tmp_path / "multi"
    code = main(
        [
            "train",
            "--db",
            str(study),
            "--out",
            str(out),
            "--config",
            str(config),
            "--multi-target",
            "--hparam",
            "n_rbf=12",
            "--hidden",
            "8",
        ]
    )
    assert code == 0
    record = json.loads((out / "model.json").read_text())
    assert record["model"] == "schnet" and record["labels"] == ["energy_per_atom", "vbm"]
    assert record["hparams"]["n_rbf"] == 12 and record["training"]["epochs"] == 2
    assert record["training"]["patience"] == TrainSettings().patience


def _train_args(*options: str) -> object:
    return build_parser().parse_args(["train", "--db", "x.db", "--label", "vbm", *options])


def test_cli_settings_default_to_train_settings() -> None:
    assert train_settings(_train_args()) == TrainSettings()
    given = train_settings(
        _train_args(
            "--lr-decay",
            "1",
            "--min-epochs",
            "50",
            "--smoothing",
            "0",
            "--device",
            "cuda:1",
            "--hidden",
            "16",
            "--hparam",
            "lr_patience=7",
            "--hparam",
            "lr=0.01",
            "--lr",
            "0.002",
        )
    )
    assert given == TrainSettings(
        lr_decay=1.0,
        min_epochs=50,
        smoothing=0.0,
        device="cuda:1",
        hparams={"hidden": 16},
        lr_patience=7,
        lr=0.002,
    )


def test_unavailable_device_is_a_one_line_error(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--db", str(study), "--label", "vbm", "--out", str(tmp_path / "d")]
    assert main([*argv, "--device", "cuda:99", *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert "--device cuda:99: this machine has" in err and "\n" not in err
    assert not (tmp_path / "d" / "model.json").exists()


def test_evaluate_writes_metrics_and_parity(runs: Path, study: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert main(["evaluate", str(runs / "vbm"), "--db", str(study), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["units"] == {"vbm": "eV"} and metrics["metrics"]["vbm"]["n"] == 24
    with (out / "parity.csv").open() as handle:
        parity = {int(r["row_id"]): float(r["predicted"]) for r in csv.DictReader(handle)}
    with (runs / "vbm" / "predictions.csv").open() as handle:
        trained = {int(r["row_id"]): float(r["predicted"]) for r in csv.DictReader(handle)}
    assert parity.keys() == trained.keys()
    np.testing.assert_allclose([parity[k] for k in trained], list(trained.values()), rtol=1e-5)


def test_predict_files_and_db_rows(runs: Path, study: Path, tmp_path: Path) -> None:
    with ase.db.connect(study) as db:
        rows = list(db.select("labeled=1", limit=3))
    frames = tmp_path / "frames.extxyz"
    ase.io.write(frames, [row.toatoms() for row in rows])
    out = tmp_path / "pred.csv"
    code = main(
        [
            "predict",
            str(runs),
            str(frames),
            "--db",
            str(study),
            "--query",
            f"id={rows[0].id}",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    with out.open() as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 4 and table[0]["structure"] == f"{frames}@0"
    assert "band_gap (eV)" in table[0] and "hydrostatic_stress (GPa)" in table[0]
    assert table[3]["vbm (eV)"] == table[0]["vbm (eV)"]  # the same structure twice
    with (runs / "vbm" / "predictions.csv").open() as handle:
        trained = {int(r["row_id"]): float(r["predicted"]) for r in csv.DictReader(handle)}
    predicted = [float(r["vbm (eV)"]) for r in table[:3]]
    np.testing.assert_allclose(predicted, [trained[r.id] for r in rows], rtol=1e-5)


def test_user_errors_are_one_line(
    study: Path, runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        [
            "train",
            "--db",
            str(study),
            "--label",
            "band_gap",
            "--model",
            "nope",
            "--out",
            str(tmp_path / "a"),
        ],
        ["train", "--db", str(study), "--label", "gap", "--out", str(tmp_path / "b")],
        [
            "train",
            "--db",
            str(study),
            "--label",
            "vbm",
            "--query",
            "scheme=md",
            "--out",
            str(tmp_path / "c"),
        ],
        [
            "train",
            "--db",
            str(study),
            "--label",
            "vbm",
            "--cutoff",
            "0",
            "--out",
            str(tmp_path / "d"),
        ],
        [
            "train",
            "--db",
            str(study),
            "--label",
            "vbm",
            "--dropout",
            "2",
            "--out",
            str(tmp_path / "e"),
        ],
        [
            "train",
            "--db",
            str(study),
            "--label",
            "vbm",
            "--epochs",
            "0",
            "--out",
            str(tmp_path / "f"),
        ],
        ["predict", str(tmp_path / "nowhere"), "x.cif"],
    ]
    for argv in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"thermognn {argv[0]}: error:") and "\n" not in err, err


def test_corrupt_checkpoint_is_a_clear_error(
    runs: Path, study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text((runs / "vbm" / "model.json").read_text())
    (broken / "model.pt").write_bytes(b"not a checkpoint")
    assert main(["evaluate", str(broken), "--db", str(study)]) == 2
    assert "refused to load" in capsys.readouterr().err


def test_cli_modules_import_no_torch() -> None:
    code = (
        "import sys, argparse; import thermognn.cli.train, thermognn.cli.evaluate, "
        "thermognn.cli.predict as p; "
        "s = argparse.ArgumentParser().add_subparsers(); "
        "[m.register(s) for m in (thermognn.cli.train, thermognn.cli.evaluate, p)]; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
