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
        "sweep/band_gap/trials.csv",
        "models.json",
        "figures/parity_vbm.png",
        "curves/results.csv",
        "curves/test_sets.json",
        "curves/differences.csv",
        "curves/learning_curves_band_gap.png",
        "compare/results.csv",
        "compare/comparison.md",
        "explain/pairs.csv",
        "explain/view_best.html",
        "temperature/curve.csv",
        "families.json",
        "families/differences.csv",
    ):
        assert (out / rel).stat().st_size > 0, rel
    state = json.loads((out / "reproduce.json").read_text())
    assert set(state["stage_seconds"]) >= {"data", "sweep", "models", "curves", "explain"}
    # every comparison on the same reserved rows: the sweep never trains on a test row
    test_sets = json.loads((out / "curves" / "test_sets.json").read_text())
    reserved = {r for ids in test_sets.values() for r in ids}
    sweep_split = json.loads((out / "sweep" / "band_gap" / "split.json").read_text())
    assert not (set(sweep_split["train"]) | set(sweep_split["val"])) & reserved
    assert set(sweep_split["test"]) == reserved
    models = json.loads((out / "models.json").read_text())
    assert set(models) == {"energy_per_atom", "band_gap", "vbm", "hydrostatic_stress"}
    assert all(m["n_seeds"] == 2 for m in models.values())
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64") >= 8
    assert "paired seeds" in page and "95 % CI" in page
    # the model families: both on the same rows, every label, with their cost
    families = json.loads((out / "families.json").read_text())
    assert set(families) == {"paper-5", "moments"}
    for entry in families.values():
        assert entry["parameters"] > 0 and entry["structures_per_s"] > 0
        assert set(entry["labels"]) == set(models)
    assert "Model families on identical rows" in page
    summary = (out / "summary.md").read_text()
    assert "| band_gap (eV) |" in summary and "paired seeds" in summary
    # resumable: a second call reuses every finished stage and is much faster
    assert main(argv) == 0
    again = json.loads((out / "reproduce.json").read_text())
    assert again["stage_seconds"]["curves"] < state["stage_seconds"]["curves"]


def test_reproduce_bad_preset(tmp_path, capsys):
    assert main(["reproduce", "--out", str(tmp_path / "x"), "--preset", "huge"]) == 2
    assert "preset: unknown 'huge'" in capsys.readouterr().err
