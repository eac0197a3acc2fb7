"""Explanations: symmetrised bond masks, species pairs, seeds, files."""

from __future__ import annotations

import numpy as np
import pytest

from thermognn.errors import ThermognnError
from thermognn.explain import explain_run, species_pair_summary
from thermognn.explain.importance import symmetrise
from thermognn.structures import reference_cell


def _structures(n=2):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        a = reference_cell("Ag3SBr", (1, 1, 1))
        a.positions += rng.uniform(-0.1, 0.1, a.positions.shape)
        out.append(a)
    return out


def test_symmetrise_pairs_reverse_edges():
    ei = np.array([[0, 1, 0, 0], [1, 0, 0, 0]])
    shift = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [-1, 0, 0]], dtype=float)
    ids, vals = symmetrise(ei, shift, np.array([0.2, 0.4, 1.0, 0.0]))
    assert len(ids) == 2
    np.testing.assert_allclose(sorted(vals), [0.3, 0.5])
    with pytest.raises(ThermognnError, match="without its reverse"):
        symmetrise(ei[:, :1], shift[:1], np.array([1.0]))


def test_explain_run_bonds_pairs_and_seeds(tiny_run):
    structures = _structures()
    a = explain_run(tiny_run, structures, seeds=[0, 1], epochs=20)
    b = explain_run(tiny_run, structures, seeds=[0, 1], epochs=20)
    from thermognn.graphs import build_graph

    n_edges = build_graph(structures[0]).edge_index.shape[1]
    assert len(a) == 2 and len(a[0].importance) == n_edges // 2  # one entry per bond
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
