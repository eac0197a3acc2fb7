"""Explanations: symmetrised bond masks, species pairs, seeds, files."""

from __future__ import annotations

import numpy as np

from thermognn.explain import explain_run, species_pair_summary
from thermognn.explain.importance import pair_importance
from thermognn.structures import reference_cell


def _structures(n=2):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        a = reference_cell("Ag3SBr", (1, 1, 1))
        a.positions += rng.uniform(-0.1, 0.1, a.positions.shape)
        out.append(a)
    return out


def test_pair_importance_takes_max_over_directions_and_images_then_seed_mean():
    # atoms 0-1 linked both ways and through a second image; 0-0 self-loop pair
    ei = np.array([[0, 1, 0, 1, 0, 0], [1, 0, 1, 0, 0, 0]])
    dist = np.array([2.0, 2.0, 3.0, 3.0, 4.0, 4.0])
    masks = np.array([[0.1, 0.9, 0.2, 0.0, 0.3, 0.1], [0.0, 0.0, 0.7, 0.0, 0.1, 0.5]])
    rep, imp = pair_importance(ei, dist, masks)
    assert len(rep) == 2  # pairs {0, 0} and {0, 1}
    np.testing.assert_allclose(sorted(imp), [0.4, 0.8])  # (0.3+0.5)/2, (0.9+0.7)/2
    assert dist[rep].min() == 2.0  # each pair represented by its shortest edge


def test_explain_run_bonds_pairs_and_seeds(tiny_run):
    structures = _structures()
    a = explain_run(tiny_run, structures, seeds=[0, 1], epochs=20)
    b = explain_run(tiny_run, structures, seeds=[0, 1], epochs=20)
    from thermognn.graphs import build_graph

    g = build_graph(structures[0])
    pairs = {tuple(sorted(e)) for e in g.edge_index.numpy().T.tolist()}
    assert len(a) == 2 and len(a[0].importance) == len(pairs)  # one entry per atom pair
    assert np.all((a[0].importance >= 0) & (a[0].importance <= 1))
    np.testing.assert_allclose(a[0].importance, b[0].importance)  # seeded
    assert set(a[0].pair) <= {"Ag-Ag", "Ag-Br", "Ag-S", "Br-Br", "Br-S", "S-S"}
    assert {"Ag-S", "Ag-Ag"} <= set(a[0].pair)
    rows = species_pair_summary(a, threshold=0.5)
    total = next(r for r in rows if r["pair"] == "all")
    assert total["bonds"] == sum(r["bonds"] for r in rows if r["pair"] != "all")
    assert 0.0 <= total["fraction_above"] <= 1.0


def test_explain_cli_writes_tables_figures_and_view(tiny_run, tiny_ag3sbr_db, tmp_path, capsys):
    from thermognn.cli.main import main

    out = tmp_path / "exp"
    assert (
        main(
            [
                "explain",
                str(tiny_run),
                "--db",
                str(tiny_ag3sbr_db),
                "--n",
                "2",
                "--seeds",
                "1",
                "--epochs",
                "10",
                "--compare",
                str(tiny_run),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for name in ("pairs.csv", "bonds_best.csv", "importance_density.png", "view_best.html"):
        assert (out / name).stat().st_size > 0
    assert "Ag-S" in (out / "pairs.csv").read_text()
    assert main(["explain", str(tmp_path), "--db", str(tiny_ag3sbr_db)]) == 2
    assert "not a run folder (no model.json)" in capsys.readouterr().err


def test_explain_refuses_a_checkpoint_that_does_not_match(
    tiny_run, tiny_ag3sbr_db, tmp_path, capsys
):
    import json
    import shutil

    from thermognn.cli.main import main

    wrong = tmp_path / "wrong"
    shutil.copytree(tiny_run, wrong)
    record = json.loads((wrong / "model.json").read_text())
    record["hparams"]["hidden"] = 2 * record["hparams"]["hidden"]  # weights say otherwise
    (wrong / "model.json").write_text(json.dumps(record))
    assert main(["explain", str(wrong), "--db", str(tiny_ag3sbr_db), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("thermognn explain: error:") and "\n" not in err
    assert "model.pt: weights do not fit the recorded model" in err
    assert not (tmp_path / "pairs.csv").exists()
