"""Explanations: mean-merged bond masks, a model built to use one bond type, test rows,
several models with intervals, determinism, files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.nn import MessagePassing

from thermognn.errors import ThermognnError
from thermognn.explain import (
    ModelExplanations,
    explain_graph,
    explain_models,
    interval,
    pair_importance,
    select_rows,
    species_pair_summary,
)
from thermognn.explain.importance import BondImportance, bond_importances
from thermognn.graphs import build_graph
from thermognn.structures import reference_cell


def _cell(seed=0):
    atoms = reference_cell("Ag3SBr", (1, 1, 1))
    atoms.positions += np.random.default_rng(seed).uniform(-0.1, 0.1, atoms.positions.shape)
    return atoms


# ----------------------------------------------------------------- merging edges to bonds
def test_pair_importance_means_parallel_edges_and_both_directions_then_seeds():
    # pair {0,1}: two images, both directions (edges 0-3); self-loop pair {0,0} (4-5);
    # pair {1,2}: one image, both directions (6-7)
    ei = np.array([[0, 1, 0, 1, 0, 0, 1, 2], [1, 0, 1, 0, 0, 0, 2, 1]])
    dist = np.array([2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 2.5, 2.5])
    masks = np.array(
        [
            [0.1, 0.9, 0.2, 0.0, 0.3, 0.1, 0.6, 0.8],
            [0.0, 0.0, 0.7, 0.0, 0.1, 0.5, 0.2, 0.2],
        ]
    )
    rep, imp = pair_importance(ei, dist, masks)
    # seed 0: {0,0} (0.3+0.1)/2 = 0.2, {0,1} (0.1+0.9+0.2+0)/4 = 0.3, {1,2} 0.7
    # seed 1: {0,0} (0.1+0.5)/2 = 0.3, {0,1} 0.7/4 = 0.175,          {1,2} 0.2
    np.testing.assert_allclose(imp, [0.25, 0.2375, 0.45])  # pairs (0,0), (0,1), (1,2)
    np.testing.assert_array_equal(rep, [4, 0, 6])  # each pair's shortest (first) edge
    np.testing.assert_allclose(pair_importance(ei, dist, masks[0])[1], [0.2, 0.3, 0.7])


def test_bond_importances_match_a_dict_reference_on_a_crystal_graph():
    atoms = _cell()
    g = build_graph(atoms)
    masks = np.random.default_rng(1).uniform(size=(2, g.num_edges))
    bonds = bond_importances(g, masks, atoms.get_chemical_symbols())
    ei, dist = g.edge_index.numpy(), g.edge_attr.numpy()
    ref: dict[tuple[int, int], list[int]] = {}
    for e, (j, i) in enumerate(ei.T):
        ref.setdefault((min(i, j), max(i, j)), []).append(e)
    assert max(len(v) for v in ref.values()) > 2  # the cell really has parallel edges
    sym = atoms.get_chemical_symbols()
    got = {
        (min(s, t), max(s, t)): (v, d, p)
        for s, t, v, d, p in zip(
            bonds.source, bonds.target, bonds.importance, bonds.distance, bonds.pair
        )
    }
    assert set(got) == set(ref)
    for (a, b), edges in ref.items():
        value, length, pair = got[(a, b)]
        assert value == pytest.approx(masks[:, edges].mean())
        assert length == pytest.approx(dist[edges].min())
        assert pair == "-".join(sorted((sym[a], sym[b])))


# ------------------------------------------------------ a model that uses one bond type
class _OnlyPair(MessagePassing):
    """Output = Σ over edges between species za and zb of exp(−d / 2 Å); other edges
    carry zero messages, so the output cannot depend on them."""

    def __init__(self, z: torch.Tensor, za: int, zb: int) -> None:
        super().__init__(aggr="add")
        self.register_buffer("z", z.clone())
        self.za, self.zb = za, zb

    def forward(self, x, edge_index, edge_weight=None, batch=None):
        zs, zt = self.z[edge_index[0]], self.z[edge_index[1]]
        used = ((zs == self.za) & (zt == self.zb)) | ((zs == self.zb) & (zt == self.za))
        w = used.float() * torch.exp(-edge_weight / 2)
        return self.propagate(edge_index, x=x, w=w.unsqueeze(-1)).sum(dim=0, keepdim=True)

    def message(self, w):  # noqa: D102
        return w


@pytest.mark.parametrize(("za", "zb", "pair"), [(47, 16, "Ag-S"), (35, 16, "Br-S")])
def test_explainer_finds_the_only_bond_type_a_model_uses(za, zb, pair):
    atoms = _cell()
    g = build_graph(atoms)
    data = Data(x=g.x, edge_index=g.edge_index, edge_weight=g.edge_attr, num_nodes=g.num_nodes)
    masks = explain_graph(_OnlyPair(g.z, za, zb), data, seeds=[0, 1], epochs=100)
    rows = species_pair_summary([bond_importances(g, masks, atoms.get_chemical_symbols())])
    by_pair = {r["pair"]: r for r in rows}
    assert len(by_pair) == 7  # six species pairs + "all"
    assert by_pair[pair]["mean"] > 0.8 and by_pair[pair]["fraction_above"] == 1.0
    others = [r["mean"] for p, r in by_pair.items() if p not in (pair, "all")]
    assert max(others) < 0.05


def test_explain_graph_is_deterministic_per_seed_and_leaves_torch_rng_alone():
    atoms = _cell()
    g = build_graph(atoms)
    data = Data(x=g.x, edge_index=g.edge_index, edge_weight=g.edge_attr, num_nodes=g.num_nodes)
    model = _OnlyPair(g.z, 47, 16)
    torch.manual_seed(7)
    state = torch.random.get_rng_state()
    a = explain_graph(model, data, seeds=[0, 1], epochs=10)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = explain_graph(model, data, seeds=[0, 1], epochs=10)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])  # the seeds do differ


# ---------------------------------------------------------------- intervals and summary
def test_interval_on_known_inputs():
    lo, hi = interval([1, 2, 3, 4, 5])  # mean 3, s/√n = √2.5/√5, t(0.975, 4) = 2.776445
    assert (lo, hi) == pytest.approx((3 - 2.776445 * 0.7071068, 3 + 2.776445 * 0.7071068))
    # bootstrap means of [0, 1] are 0, ½, 1 with probabilities ¼, ½, ¼
    assert interval([0, 1], method="bootstrap", seed=3) == (0.0, 1.0)
    assert interval([2, 2, 2], method="bootstrap") == (2.0, 2.0)
    v = [0.1, 0.5, 0.2, 0.9]
    assert interval(v, method="bootstrap", seed=1) == interval(v, method="bootstrap", seed=1)
    assert np.isnan(interval([0.4])).all()
    with pytest.raises(ThermognnError, match="interval method"):
        interval(v, method="wald")


def _bonds(pairs, values):
    n = len(values)
    return BondImportance(
        source=np.zeros(n, int),
        target=np.ones(n, int),
        shift=np.zeros((n, 3)),
        distance=np.full(n, 3.0),
        importance=np.asarray(values, float),
        pair=np.asarray(pairs),
    )


def test_model_explanations_summary_on_hand_made_bonds():
    per_model = {  # two structures per model; Ag-S means 0.6, 0.7, 0.8
        "a": [_bonds(["Ag-S", "Ag-Ag"], [0.9, 0.0]), _bonds(["Ag-S"], [0.3])],
        "b": [_bonds(["Ag-S", "Ag-Ag"], [0.9, 0.2]), _bonds(["Ag-S"], [0.5])],
        "c": [_bonds(["Ag-S", "Ag-Ag"], [0.7, 0.4]), _bonds(["Ag-S"], [0.9])],
    }
    res = ModelExplanations(per_model, {k: f"runs/{k}" for k in per_model}, row_ids=[4, 9])
    tidy = {(r["pair"], r["model"]): r for r in res.per_model()}
    assert tidy[("Ag-S", "b")] == {
        "pair": "Ag-S",
        "model": "b",
        "mean_importance": pytest.approx(0.7),
        "frac_above": 0.5,
        "n_edges": 2,
    }
    summary = {e["pair"]: e for e in res.summary()}
    ags = summary["Ag-S"]
    assert ags["n_models"] == 3 and ags["mean_importance"] == pytest.approx(0.7)
    half = 4.302653 * 0.1 / np.sqrt(3)  # t(0.975, 2) · s / √3
    assert (ags["mean_importance_lo"], ags["mean_importance_hi"]) == pytest.approx(
        (0.7 - half, 0.7 + half)
    )
    assert (ags["frac_above"], ags["frac_above_lo"], ags["frac_above_hi"]) == (0.5, 0.5, 0.5)
    assert ags["per_model"]["c"]["mean_importance"] == pytest.approx(0.8)
    agag = summary["Ag-Ag"]  # 0.0, 0.2, 0.4: the t-interval's low end is clipped at 0
    assert agag["mean_importance_lo"] == 0.0 and agag["frac_above"] == 0.0
    record = json.loads(json.dumps(res.to_dict()))
    assert record["row_ids"] == [4, 9] and record["interval"]["method"] == "t"


# -------------------------------------------------------------------- rows to explain
def _fake_run(path, train, val, test):
    path.mkdir()
    split = {
        name: {"row_id": ids} for name, ids in zip(("train", "val", "test"), (train, val, test))
    }
    (path / "split.json").write_text(json.dumps(split))
    return path


def test_select_rows_takes_shared_test_rows_and_refuses_training_rows(tmp_path):
    r1 = _fake_run(tmp_path / "r1", [1, 2, 3, 9], [4], [5, 6, 7, 8])
    r2 = _fake_run(tmp_path / "r2", [1, 2, 3, 5], [4], [6, 7, 8, 9])
    assert select_rows([r1, r2]) == [6, 7, 8]
    two = select_rows([r1, r2], n_structures=2, seed=1)
    assert len(two) == 2 and set(two) <= {6, 7, 8}
    assert two == select_rows([r1, r2], n_structures=2, seed=1)
    assert select_rows([r1, r2], among={7, 8, 100}) == [7, 8]
    assert select_rows([r1, r2], [8, 4]) == [8, 4]  # explicit: validation rows are fine
    with pytest.raises(ThermognnError, match=r"r2/split.json: rows \[5\] are training rows"):
        select_rows([r1, r2], [6, 5])
    assert select_rows([r1, r2], [6, 5], allow_train_rows=True) == [6, 5]
    r3 = _fake_run(tmp_path / "r3", [6, 7, 8], [], [1])
    with pytest.raises(ThermognnError, match="share no test row"):
        select_rows([r1, r3])
    with pytest.raises(ThermognnError, match="no split record"):
        select_rows([tmp_path])


# ------------------------------------------------------------ real runs, several models
def _perturbed_copy(run, dest, seed):
    """A copy of a run whose weights carry seeded noise: a second, different model."""
    shutil.copytree(run, dest)
    state = torch.load(dest / "model.pt", weights_only=True)
    gen = torch.Generator().manual_seed(seed)
    for name, value in state.items():
        if value.is_floating_point() and "running" not in name:  # keep BatchNorm statistics
            value += 0.2 * torch.randn(value.shape, generator=gen) * value.abs().mean()
    torch.save(state, dest / "model.pt")
    return dest


def test_explain_models_on_shared_test_rows_with_intervals(tiny_run, tiny_ag3sbr_db, tmp_path):
    runs = [tiny_run, _perturbed_copy(tiny_run, tmp_path / "b", 1)]
    runs.append(_perturbed_copy(tiny_run, tmp_path / "c", 2))
    kw = {"n_structures": 2, "explainer_seeds": [0, 1], "epochs": 20}
    res = explain_models(runs, tiny_ag3sbr_db, **kw)
    test_rows = json.loads((tiny_run / "split.json").read_text())["test"]["row_id"]
    assert len(res.row_ids) == 2 and set(res.row_ids) <= set(test_rows)
    assert list(res.runs) == ["run", "b", "c"]
    table = res.per_model()
    for e in res.summary():
        values = [r["mean_importance"] for r in table if r["pair"] == e["pair"]]
        assert e["n_models"] == 3 and e["mean_importance"] == pytest.approx(np.mean(values))
        lo, hi = interval(values)
        assert e["mean_importance_lo"] == pytest.approx(max(lo, 0.0))
        assert e["mean_importance_hi"] == pytest.approx(min(hi, 1.0))
    ags = {r["model"]: r["mean_importance"] for r in table if r["pair"] == "Ag-S"}
    assert len(set(ags.values())) == 3  # three different models
    again = explain_models(runs, tiny_ag3sbr_db, **kw)
    assert again.per_model() == table  # same seeds → same numbers
    train = json.loads((tiny_run / "split.json").read_text())["train"]["row_id"]
    with pytest.raises(ThermognnError, match="training rows"):
        explain_models(runs, tiny_ag3sbr_db, row_ids=train[:1], **kw)


def test_explain_cli_several_models_compare_tables_figures(
    tiny_run, tiny_ag3sbr_db, tmp_path, capsys
):
    from thermognn.cli.main import main

    other = _perturbed_copy(tiny_run, tmp_path / "seed1", 1)
    out = tmp_path / "exp"
    args = ["explain", str(tiny_run), "--db", str(tiny_ag3sbr_db), "--n", "2", "--seeds", "1"]
    args += ["--epochs", "10", "--runs", str(other), "--compare", str(tiny_run), "--out", str(out)]
    assert main(args) == 0
    for name in ("pairs.csv", "bonds_best.csv", "importance_density.png", "view_best.html"):
        assert (out / name).stat().st_size > 0
    tidy = (out / "importance_by_model.csv").read_text().splitlines()
    assert tidy[0] == "group,pair,model,mean_importance,frac_above,n_edges"
    assert any(line.startswith("best,Ag-S,seed1,") for line in tidy)
    assert any(line.startswith("compared,Ag-S,run,") for line in tidy)
    summary = json.loads((out / "importance_summary.json").read_text())
    assert set(summary) == {"best", "compared"}
    assert summary["best"]["models"] == {"run": str(tiny_run), "seed1": str(other)}
    assert summary["best"]["row_ids"] == summary["compared"]["row_ids"]
    ags = next(p for p in summary["best"]["pairs"] if p["pair"] == "Ag-S")
    assert ags["n_models"] == 2 and ags["frac_above_lo"] is not None
    assert "Ag-S" in (out / "pairs.csv").read_text()
    assert "best (2 model(s), 2 structures)" in capsys.readouterr().out
    train = json.loads((tiny_run / "split.json").read_text())["train"]["row_id"]
    bad = ["explain", str(tiny_run), "--db", str(tiny_ag3sbr_db), "--rows", str(train[0])]
    assert main([*bad, "--out", str(tmp_path / "x")]) == 2
    assert "are training rows of this model" in capsys.readouterr().err
    assert main(["explain", str(tmp_path), "--db", str(tiny_ag3sbr_db)]) == 2
    assert "not a run folder (no model.json)" in capsys.readouterr().err


def test_explain_refuses_a_checkpoint_that_does_not_match(
    tiny_run, tiny_ag3sbr_db, tmp_path, capsys
):
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
