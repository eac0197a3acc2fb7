"""End to end: ``thermognn reproduce`` (smoke preset) on a tiny xTB-labeled data set."""

from __future__ import annotations

import json

from thermognn.cli.main import main


def test_reproduce_smoke_end_to_end(tiny_ag3sbr_db, tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "reproduce",
        "--out",
        str(out),
        "--preset",
        "smoke",
        "--db",
        str(tiny_ag3sbr_db),
        "--workers",
        "0",
        "--supercell",
        "1",
    ]
    assert main(argv) == 0
    assert str(out / "report.html") in capsys.readouterr().out
    for rel in (
        "dataset.json",
        "figures/label_distributions.png",
        "sweep/trials.csv",
        "models/band_gap/model.pt",
        "models/hydrostatic_stress/metrics.json",
        "figures/parity_vbm.png",
        "curves/curves.csv",
        "curves/learning_curves.png",
        "compare/comparison.csv",
        "explain/pairs.csv",
        "explain/view_best.html",
        "temperature/curve.csv",
    ):
        assert (out / rel).stat().st_size > 0, rel
    state = json.loads((out / "reproduce.json").read_text())
    assert set(state["stage_seconds"]) >= {"data", "sweep", "models", "curves", "explain"}
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64") >= 8
    # resumable: a second call reuses every finished stage and is much faster
    assert main(argv) == 0
    again = json.loads((out / "reproduce.json").read_text())
    assert again["stage_seconds"]["models"] <= state["stage_seconds"]["models"] + 1.0


def test_reproduce_bad_preset(tmp_path, capsys):
    assert main(["reproduce", "--out", str(tmp_path / "x"), "--preset", "huge"]) == 2
    assert "preset: unknown 'huge'" in capsys.readouterr().err
